// A canvas watched over WebRTC (WHEP) in a real browser (Debian's chromium, headless, driven by
// playwright-core). Run by crates/livekit-cli/tests/control.rs against a running
// `livekit studio` whose scene file has the scenes `main` (red) and `break` (blue):
//
//   node whep_page.mjs URL
//
// The page offers to receive video and sound, POSTs the offer to /whep/main, plays what comes
// in a <video>, checks the picture's colour and that sound arrives, switches the scene over
// the API and times how long the picture takes to follow, then ends the viewer with DELETE.
// Offers that are garbage or that offer no video are refused with a 400 naming why. Prints
// one line per step; exits 1 with the reason at the first step that fails.
import { blue, command, launch, red, step, waitForColour as waitFor } from "./common.mjs";

const [url] = process.argv.slice(2);
if (!url) {
  console.error("usage: node whep_page.mjs URL");
  process.exit(2);
}

const browser = await launch();
const waitForColour = (page, name, test, seconds) => waitFor(page, "whep", name, test, seconds);

try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.log("page error: " + e.message));
  // Any page of the studio's origin will do (the control page would start a viewer of its own).
  await page.goto(url + "openapi.json");

  // Refused offers: one line each, naming why.
  const refused = await page.evaluate(async () => {
    const post = async (sdp, type = "application/sdp") => {
      const r = await fetch("/whep/main", { method: "POST", headers: { "Content-Type": type }, body: sdp });
      return `${r.status} ${JSON.parse(await r.text()).message}`;
    };
    const pc = new RTCPeerConnection();
    pc.addTransceiver("audio", { direction: "recvonly" });
    const audioOnly = await pc.createOffer();
    pc.close();
    return {
      garbage: await post("this is not SDP"),
      audioOnly: await post(audioOnly.sdp),
      wrongType: await post("v=0", "text/plain"),
      noCanvas: (await fetch("/whep/nowhere", { method: "POST", headers: { "Content-Type": "application/sdp" }, body: audioOnly.sdp })).status,
    };
  });
  if (!refused.garbage.startsWith("400 the SDP offer is not valid")) throw new Error("garbage: " + refused.garbage);
  if (!refused.audioOnly.startsWith("400 the SDP offer has no usable codec")) throw new Error("audio only: " + refused.audioOnly);
  if (!refused.wrongType.startsWith("415")) throw new Error("text/plain: " + refused.wrongType);
  if (refused.noCanvas !== 404) throw new Error("no canvas: " + refused.noCanvas);
  step(`bad offers refused: ${refused.garbage}; ${refused.audioOnly}`);

  const location = await page.evaluate(async () => {
    const pc = new RTCPeerConnection();
    window.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    pc.ontrack = (e) => stream.addTrack(e.track);
    const v = document.createElement("video");
    v.id = "whep";
    v.muted = true;
    v.autoplay = true;
    v.playsInline = true;
    v.srcObject = stream;
    document.body.appendChild(v);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const r = await fetch("/whep/main", {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: offer.sdp,
    });
    if (r.status !== 201) throw new Error(`POST /whep/main: ${r.status} ${await r.text()}`);
    await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
    return r.headers.get("Location");
  });
  if (!/^\/whep\/main\/[A-Za-z0-9]+$/.test(location || "")) throw new Error("Location: " + location);
  step("the studio answered the offer (" + location + ")");

  await page.waitForFunction(() => {
    const v = document.getElementById("whep");
    return v.videoWidth > 0 && v.currentTime > 0.3;
  }, null, { timeout: 20000 });
  const size = await page.evaluate(() => [document.getElementById("whep").videoWidth, document.getElementById("whep").videoHeight]);
  await waitForColour(page, "red", red, 10);
  step(`the browser plays the canvas over WebRTC (${size[0]}x${size[1]}), red`);

  const audio = await page.evaluate(async () => {
    await new Promise((r) => setTimeout(r, 1000));
    const stats = await window.pc.getStats();
    let packets = 0;
    let codec = "";
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        packets = s.packetsReceived;
        const c = stats.get(s.codecId);
        codec = c ? c.mimeType : "";
      }
    });
    return { packets, codec };
  });
  if (!(audio.packets > 10) || audio.codec !== "audio/opus") throw new Error(`sound: ${JSON.stringify(audio)}`);
  step(`sound arrives (${audio.packets} ${audio.codec} packets)`);

  const asked = Date.now();
  await command(page, { switch_scene: { scene: "break" } });
  await waitForColour(page, "blue", blue, 10);
  step(`a scene switched over the API showed ${Date.now() - asked} ms later (blue)`);

  const ended = await page.evaluate(async (location) => {
    const r = await fetch(location, { method: "DELETE" });
    const again = await fetch(location, { method: "DELETE" });
    return [r.status, again.status];
  }, location);
  if (ended[0] !== 200 || ended[1] !== 404) throw new Error("DELETE: " + ended);
  const viewers = await page.evaluate(async () => {
    const state = await (await fetch("/api/state")).json();
    return state.canvases[0].viewers.length;
  });
  if (viewers !== 0) throw new Error(`${viewers} viewers left after DELETE`);
  step("DELETE ended the viewer (a second DELETE is 404)");

  // A viewer that takes VP8 only (a browser without H.264): it gets a VP8 encode of its own.
  const vp8 = await page.evaluate(async () => {
    const pc = new RTCPeerConnection();
    window.vp8pc = pc;
    const video = pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const codecs = RTCRtpReceiver.getCapabilities("video").codecs.filter((c) => c.mimeType === "video/VP8");
    video.setCodecPreferences(codecs);
    const stream = new MediaStream();
    pc.ontrack = (e) => stream.addTrack(e.track);
    const v = document.createElement("video");
    v.id = "vp8";
    v.muted = true;
    v.autoplay = true;
    v.playsInline = true;
    v.srcObject = stream;
    document.body.appendChild(v);
    const offer = await pc.createOffer();
    if (/H264/i.test(offer.sdp)) throw new Error("the VP8-only offer still has H.264");
    await pc.setLocalDescription(offer);
    const r = await fetch("/whep/main", { method: "POST", headers: { "Content-Type": "application/sdp" }, body: offer.sdp });
    if (r.status !== 201) throw new Error(`POST /whep/main (VP8): ${r.status} ${await r.text()}`);
    await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
    return r.headers.get("Location");
  });
  await page.waitForFunction(() => {
    const v = document.getElementById("vp8");
    return v.videoWidth > 0 && v.currentTime > 0.3;
  }, null, { timeout: 20000 });
  await waitFor(page, "vp8", "blue", blue, 10);
  const vp8Codec = await page.evaluate(async () => {
    const stats = await window.vp8pc.getStats();
    let codec = "";
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        const c = stats.get(s.codecId);
        codec = c ? c.mimeType : "";
      }
    });
    return codec;
  });
  if (vp8Codec !== "video/VP8") throw new Error("the VP8 viewer decodes " + vp8Codec);
  const vp8Asked = Date.now();
  await command(page, { switch_scene: { scene: "main" } });
  await waitFor(page, "vp8", "red", red, 10);
  const vp8Switch = Date.now() - vp8Asked;
  await page.evaluate(async (location) => {
    await fetch(location, { method: "DELETE" });
    window.vp8pc.close();
  }, vp8);
  await command(page, { switch_scene: { scene: "break" } });
  step(`a viewer offering VP8 only plays a VP8 encode (${vp8Codec}), blue, then red ${vp8Switch} ms after a scene switch`);
  // The control page's own preview is WebRTC: it plays the live scene and follows a click.
  const control = await browser.newPage();
  await control.goto(url);
  await control.waitForSelector('#program[data-preview="webrtc"]', { timeout: 10000 });
  await control.waitForFunction(() => {
    const v = document.getElementById("live");
    return v.videoWidth > 0 && v.currentTime > 0.3;
  }, null, { timeout: 20000 });
  await waitFor(control, "live", "blue", blue, 10);
  const clicked = Date.now();
  await control.click('#scenes button[data-scene="main"]');
  await waitFor(control, "live", "red", red, 10);
  step(`the control page's preview is WebRTC: a click on scene main showed ${Date.now() - clicked} ms later`);
  await control.close();
  console.log("ok");
  await browser.close();
} catch (error) {
  console.log("failed: " + error.message);
  await browser.close();
  process.exit(1);
}

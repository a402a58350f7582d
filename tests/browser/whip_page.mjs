// A canvas sent to a WHIP endpoint whose receiving peer is a real browser (Debian's chromium,
// headless, driven by playwright-core). Run by crates/livekit-cli/tests/control.rs against a
// running `livekit studio` whose scene file has the scenes `main` (red) and `break` (blue):
//
//   node whip_page.mjs URL TOKEN
//
// The script is the WHIP endpoint: a plain HTTP server on 127.0.0.1 that checks the bearer
// token, hands each offer to an RTCPeerConnection in the page and answers with the page's
// answer (201, Location of the session), and takes the session's DELETE. The studio is told
// over its API to stream to it; the page checks the received picture's colours (red, then
// blue after a scene switch) and that Opus sound arrives. A wrong token is refused (the
// destination shows `rejected`, the other goes on); the endpoint then vanishes (the page's
// connection closed, new offers answered 503) and comes back: the destination reconnects by
// itself and the picture returns. Stopping the output ends the session with DELETE. Prints
// one line per step; exits 1 with the reason at the first step that fails.
import http from "node:http";
import { blue, command, launch, red, step, waitForColour as waitFor } from "./common.mjs";

const [url, token] = process.argv.slice(2);
if (!url || !token) {
  console.error("usage: node whip_page.mjs URL TOKEN");
  process.exit(2);
}

const browser = await launch();
const waitForColour = (page, name, test, seconds) => waitFor(page, "whip", name, test, seconds);

// The endpoint's doings, for the checks.
const seen = { offers: 0, refused: 0, unavailable: 0, deletes: [], authorization: [] };
let available = true;
let page = null;
let sessions = 0;

const server = http.createServer(async (request, response) => {
  let body = "";
  for await (const chunk of request) body += chunk;
  const answer = (status, text, headers = {}) => {
    response.writeHead(status, { "Content-Type": "text/plain", ...headers });
    response.end(text);
  };
  try {
    // `/whip/vp8`: an endpoint that answers VP8 video only.
    if (request.method === "POST" && (request.url === "/whip/ingest" || request.url === "/whip/vp8")) {
      const vp8 = request.url === "/whip/vp8";
      seen.offers += 1;
      if (request.headers.authorization !== `Bearer ${token}`) {
        seen.refused += 1;
        return answer(401, "unknown token");
      }
      if (!available) {
        seen.unavailable += 1;
        return answer(503, "the service is restarting");
      }
      if (request.headers["content-type"] !== "application/sdp") return answer(415, "application/sdp only");
      const sdp = await page.evaluate(async ({ offer, vp8 }) => {
        if (window.pc) window.pc.close();
        const pc = new RTCPeerConnection();
        window.pc = pc;
        const stream = new MediaStream();
        pc.ontrack = (e) => stream.addTrack(e.track);
        const v = document.getElementById("whip");
        v.srcObject = stream;
        await pc.setRemoteDescription({ type: "offer", sdp: offer });
        if (vp8) {
          const codecs = RTCRtpReceiver.getCapabilities("video").codecs.filter((c) => c.mimeType === "video/VP8");
          for (const t of pc.getTransceivers()) if (t.receiver.track.kind === "video") t.setCodecPreferences(codecs);
        }
        await pc.setLocalDescription(await pc.createAnswer());
        // No trickle ICE: the answer carries the candidates.
        if (pc.iceGatheringState !== "complete") {
          await new Promise((done) => {
            pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
            setTimeout(done, 3000);
          });
        }
        return pc.localDescription.sdp;
      }, { offer: body, vp8 });
      sessions += 1;
      return answer(201, sdp, { "Content-Type": "application/sdp", Location: `/whip/ingest/session/${sessions}` });
    }
    if (request.method === "DELETE" && request.url.startsWith("/whip/ingest/session/")) {
      seen.deletes.push(request.url);
      seen.authorization.push(request.headers.authorization === `Bearer ${token}`);
      return answer(200, "");
    }
    return answer(404, "no such resource");
  } catch (e) {
    return answer(500, String(e));
  }
});
await new Promise((done) => server.listen(0, "127.0.0.1", done));
const endpoint = `http://127.0.0.1:${server.address().port}/whip/ingest`;

// The studio's view of the output's destinations.
async function destinations(id) {
  return page.evaluate(async (id) => {
    const state = await (await fetch("/api/state")).json();
    const output = state.outputs.find((o) => o.id === id);
    return output ? output.destinations : [];
  }, id);
}

async function waitForDestination(id, test, seconds, what) {
  const deadline = Date.now() + seconds * 1000;
  let last = null;
  while (Date.now() < deadline) {
    last = await destinations(id);
    if (last.length && test(last[0])) return last[0];
    await page.waitForTimeout(100);
  }
  throw new Error(`${id}: never ${what}: ${JSON.stringify(last)}`);
}

async function soundPackets() {
  return page.evaluate(async () => {
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
}

try {
  page = await browser.newPage();
  page.on("pageerror", (e) => console.log("page error: " + e.message));
  await page.goto(url + "openapi.json");
  await page.evaluate(() => {
    const v = document.createElement("video");
    v.id = "whip";
    v.muted = true;
    v.autoplay = true;
    v.playsInline = true;
    document.body.appendChild(v);
  });

  // The token goes as the URL's user part; the studio never shows it.
  const withToken = endpoint.replace("http://", `http://${token}@`);
  await command(page, { start_output: { id: "webrtc", output: { kind: "stream", to: [withToken] } } });
  const live = await waitForDestination("webrtc", (d) => d.state === "live", 20, "live");
  if (JSON.stringify(live).includes(token)) throw new Error("the token shows in the state: " + JSON.stringify(live));
  await page.waitForFunction(() => {
    const v = document.getElementById("whip");
    return v.videoWidth > 0 && v.currentTime > 0.3;
  }, null, { timeout: 20000 });
  const size = await page.evaluate(() => [document.getElementById("whip").videoWidth, document.getElementById("whip").videoHeight]);
  await waitForColour(page, "red", red, 10);
  step(`the endpoint's browser receives the canvas over WHIP (${size[0]}x${size[1]}), red; the studio shows ${live.url}`);

  await page.waitForTimeout(1000);
  const sound = await soundPackets();
  if (!(sound.packets > 10) || sound.codec !== "audio/opus") throw new Error(`sound: ${JSON.stringify(sound)}`);
  step(`sound arrives (${sound.packets} ${sound.codec} packets)`);

  const asked = Date.now();
  await command(page, { switch_scene: { scene: "break" } });
  await waitForColour(page, "blue", blue, 10);
  step(`a scene switch showed ${Date.now() - asked} ms later (blue)`);

  // A wrong token: refused, shown as such; the first destination goes on.
  const wrong = endpoint.replace("http://", "http://not-the-token@");
  await command(page, { start_output: { id: "wrong", output: { kind: "stream", to: [wrong] } } });
  const rejected = await waitForDestination("wrong", (d) => d.state === "rejected", 20, "rejected");
  if (!/refused the stream: HTTP 401/.test(rejected.last_error || "")) throw new Error("wrong token: " + JSON.stringify(rejected));
  if ((await destinations("webrtc"))[0].state !== "live") throw new Error("the refusal disturbed the other destination");
  await command(page, { stop_output: { id: "wrong" } });
  step(`a wrong token is refused: ${rejected.last_error}`);

  // The endpoint vanishes (its peer closed, new offers refused with 503), then comes back.
  available = false;
  const offersBefore = seen.offers;
  await page.evaluate(() => window.pc.close());
  const retrying = await waitForDestination("webrtc", (d) => d.state === "retrying", 30, "retrying after the endpoint vanished");
  step(`the endpoint vanished: the destination is retrying (${retrying.last_error})`);
  const deadline = Date.now() + 20000;
  while (seen.unavailable === 0 && Date.now() < deadline) await page.waitForTimeout(100);
  if (seen.unavailable === 0) throw new Error("no new offer while the endpoint was away");
  available = true;
  const back = await waitForDestination("webrtc", (d) => d.state === "live" && d.reconnects >= 1, 30, "live again");
  await waitForColour(page, "blue", blue, 15);
  step(`the endpoint came back: live again after ${seen.offers - offersBefore} offers (${back.reconnects} reconnect), blue`);

  // Stopping the output ends the session on the endpoint (DELETE, with the token).
  const deletesBefore = seen.deletes.length;
  await command(page, { stop_output: { id: "webrtc" } });
  const deleteBy = Date.now() + 10000;
  while (seen.deletes.length === deletesBefore && Date.now() < deleteBy) await page.waitForTimeout(50);
  if (seen.deletes.length === deletesBefore) throw new Error("no DELETE after the output stopped");
  if (!seen.authorization.every(Boolean)) throw new Error("a DELETE came without the token");
  step(`stopping the output deleted the session (${seen.deletes.at(-1)})`);

  // An endpoint that answers VP8 only: the output moves to a VP8 encode by itself.
  const vp8Endpoint = endpoint.replace("http://", `http://${token}@`).replace("/whip/ingest", "/whip/vp8");
  await command(page, { start_output: { id: "webrtc-vp8", output: { kind: "stream", to: [vp8Endpoint] } } });
  await waitForDestination("webrtc-vp8", (d) => d.state === "live", 30, "live on VP8");
  await page.waitForFunction(() => {
    const v = document.getElementById("whip");
    return v.videoWidth > 0 && v.currentTime > 0.3;
  }, null, { timeout: 20000 });
  await waitForColour(page, "blue", blue, 10);
  const vp8Codec = await page.evaluate(async () => {
    const stats = await window.pc.getStats();
    let codec = "";
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        const c = stats.get(s.codecId);
        codec = c ? c.mimeType : "";
      }
    });
    return codec;
  });
  if (vp8Codec !== "video/VP8") throw new Error("the VP8 endpoint receives " + vp8Codec);
  await command(page, { stop_output: { id: "webrtc-vp8" } });
  step(`an endpoint answering VP8 only gets VP8 (${vp8Codec}), blue`);
  console.log("ok");
} catch (e) {
  console.log("failed: " + (e && e.stack ? e.stack : e));
  process.exitCode = 1;
} finally {
  server.close();
  await browser.close();
}

// A canvas's HLS output played in a real browser (Debian's chromium, headless, driven by
// playwright-core). Run by crates/livekit-cli/tests/control.rs against a running
// `livekit studio` whose scene file has the scenes `main` (red) and `break` (blue):
//
//   node hls_page.mjs URL
//
// Starts an HLS output over the API, plays /hls/main/index.m3u8 in a <video> (through hls.js,
// from npm), checks the picture's colour and that sound is decoded, switches the scene
// over the API and waits for the picture to follow. Prints one line per step; exits 1 with
// the reason at the first step that fails.
import { blue, command, launch, red, step, waitForColour as waitFor } from "./common.mjs";

const [url] = process.argv.slice(2);
if (!url) {
  console.error("usage: node hls_page.mjs URL");
  process.exit(2);
}

const browser = await launch();
const waitForColour = (page, name, test, seconds) => waitFor(page, "hls", name, test, seconds);

try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.log("page error: " + e.message));
  await page.goto(url + "openapi.json");
  await command(page, { start_output: { id: "web", output: { kind: "hls" } } });
  step("HLS output started over the API");

  // Chromium's own player does not read HLS (it answers canPlayType "maybe", then fails to
  // parse the playlist): hls.js plays it through Media Source Extensions, as on most sites.
  await page.addScriptTag({
    path: new URL("node_modules/hls.js/dist/hls.min.js", import.meta.url).pathname,
  });
  if (!(await page.evaluate(() => Hls.isSupported()))) throw new Error("hls.js is not supported here");
  // The first segments take a keyframe interval each: wait for the playlist to list two.
  const deadline = Date.now() + 20000;
  for (;;) {
    const listed = await page.evaluate(async () => {
      const r = await fetch("/hls/main/index.m3u8");
      return r.ok ? (await r.text()).split("\n").filter((l) => l.startsWith("#EXTINF")).length : 0;
    });
    if (listed >= 2) break;
    if (Date.now() > deadline) throw new Error("the playlist never listed two segments");
    await page.waitForTimeout(250);
  }
  await page.evaluate(() => {
    const v = document.createElement("video");
    v.id = "hls";
    v.muted = true;
    v.autoplay = true;
    v.playsInline = true;
    v.addEventListener("error", () => console.log("video error: " + (v.error && v.error.message)));
    document.body.appendChild(v);
    const hls = new Hls({ lowLatencyMode: false });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) console.log("hls.js error: " + data.type + " " + data.details);
    });
    hls.loadSource("/hls/main/index.m3u8");
    hls.attachMedia(v);
  });
  page.on("console", (m) => console.log("page: " + m.text()));
  await page.waitForFunction(() => {
    const v = document.getElementById("hls");
    return v.currentTime > 0.5 && v.videoWidth > 0;
  }, null, { timeout: 20000 });
  const size = await page.evaluate(() => {
    const v = document.getElementById("hls");
    return [v.videoWidth, v.videoHeight];
  });
  step(`the browser plays /hls/main/index.m3u8 with hls.js (${size[0]}x${size[1]})`);

  await waitForColour(page, "red", red, 10);
  const sound = await page.evaluate(() => document.getElementById("hls").webkitAudioDecodedByteCount);
  if (!(sound > 0)) throw new Error(`no sound decoded (${sound} bytes)`);
  step(`the video shows the live scene (red), with sound (${sound} bytes decoded)`);

  await command(page, { switch_scene: { scene: "break" } });
  await waitForColour(page, "blue", blue, 30);
  step("a scene switched over the API reached the HLS player (blue)");
  console.log("ok");
  await browser.close();
} catch (error) {
  console.log("failed: " + error.message);
  await browser.close();
  process.exit(1);
}

// The browser side of `livekit bench webrtc` (crates/livekit-bench/src/webrtc.rs), which runs
// it against a `livekit studio` whose canvas `main` shows frames stamped with the wall-clock
// time (crates/livekit-bench/src/stamp.rs: a top row of BLOCKS square blocks of BLOCK pixels):
//
//   node webrtc_bench.mjs URL PLAN
//
// PLAN is JSON: {"block": 40, "blocks": 26, "settle": 2, "seconds": 10,
//   "phases": [{"kind": "whep", "viewers": 1}, {"kind": "whep", "viewers": 10},
//              {"kind": "hls", "behind": 3}]}
//
// A phase plays the canvas: over WHEP with N viewers (N peer connections in one page; the
// first is shown in a <video>, the others receive without being shown), or over HLS through
// hls.js after starting an HLS output over the API (hls.js's defaults, but for `behind`: how
// many segments behind the playlist's end it plays, its liveSyncDurationCount). On each frame
// the first viewer presents (requestVideoFrameCallback), the page notes Date.now() and draws
// the stamp row on a canvas, keeping the grey value of each block's middle; the bench decodes
// them (stamp.rs's read_stamp), so the stamp's format lives in one place.
//
// Prints one JSON line per event, for the bench to act on as it comes (it samples the studio's
// CPU time at "start" and "end"): {"event": "playing", ...} once every viewer plays,
// {"event": "start"} after `settle` seconds more, {"event": "end", "frames": [[now, g0, g1,
// ...], ...], "received": [bytes of each viewer], "jitter_ms": the shown viewer's mean jitter
// buffer delay (WHEP)} `seconds` later. Then the viewers are ended (DELETE) and the next phase starts.
// "ok" last; exits 1 with "failed: REASON" at the first thing that fails.
import { command, launch } from "./common.mjs";

const [url, planText] = process.argv.slice(2);
if (!url || !planText) {
  console.error("usage: node webrtc_bench.mjs URL PLAN");
  process.exit(2);
}
const plan = JSON.parse(planText);
const say = (object) => console.log(JSON.stringify(object));

// In the page: watch the <video> `id`, keeping [Date.now(), grey of each block] per frame
// presented, in window.frames (while window.recording).
function watch({ id, block, blocks }) {
  const v = document.getElementById(id);
  const c = document.createElement("canvas");
  c.width = block * blocks;
  c.height = block;
  const g = c.getContext("2d", { willReadFrequently: true });
  window.frames = [];
  window.presented = 0;
  window.recording = false;
  const onFrame = () => {
    const now = Date.now();
    window.presented += 1;
    if (window.recording && v.videoWidth > 0) {
      // The stamp row only, at the video's own size.
      g.drawImage(v, 0, 0, block * blocks, block, 0, 0, block * blocks, block);
      const d = g.getImageData(0, block >> 1, block * blocks, 1).data;
      const row = [now];
      for (let i = 0; i < blocks; i++) {
        const at = (i * block + (block >> 1)) * 4;
        row.push(Math.round((d[at] + d[at + 1] + d[at + 2]) / 3));
      }
      window.frames.push(row);
    }
    v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
}

// Starts `n` WHEP viewers of canvas main in the page; the first is shown in <video id=v0>.
function startViewers(n) {
  return (async (n) => {
    window.viewers = [];
    for (let i = 0; i < n; i++) {
      const pc = new RTCPeerConnection();
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
      if (i === 0) {
        const stream = new MediaStream();
        pc.ontrack = (e) => stream.addTrack(e.track);
        const v = document.createElement("video");
        v.id = "v0";
        v.muted = true;
        v.autoplay = true;
        v.playsInline = true;
        v.srcObject = stream;
        document.body.appendChild(v);
      }
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const r = await fetch("/whep/main", {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: offer.sdp,
      });
      if (r.status !== 201) throw new Error(`POST /whep/main: ${r.status} ${await r.text()}`);
      await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
      window.viewers.push({ pc, location: r.headers.get("Location") });
    }
  })(n);
}

// In the page (installed before it loads): every viewer's video bytes received so far, and
// the shown viewer's jitter buffer totals (seconds held, frames let out).
function installHelpers() {
  window.jitterBuffer = async () => {
    let held = [0, 0];
    (await window.viewers[0].pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") held = [s.jitterBufferDelay, s.jitterBufferEmittedCount];
    });
    return held;
  };
  window.bytesReceived = () =>
    Promise.all(
      window.viewers.map(async ({ pc }) => {
        let bytes = 0;
        (await pc.getStats()).forEach((s) => {
          if (s.type === "inbound-rtp" && s.kind === "video") bytes += s.bytesReceived;
        });
        return bytes;
      }),
    );
}

async function endViewers(page) {
  await page.evaluate(async () => {
    for (const { pc, location } of window.viewers) {
      await fetch(location, { method: "DELETE" });
      pc.close();
    }
    window.viewers = [];
    document.getElementById("v0").remove();
  });
  // The studio has let them all go (its WebRTC encode ends with the last).
  await page.waitForFunction(async () => {
    const state = await (await fetch("/api/state")).json();
    return state.canvases[0].viewers.length === 0;
  }, null, { timeout: 10000, polling: 100 });
}

async function startHls(page, behind) {
  await command(page, { start_output: { id: "bench-hls", output: { kind: "hls" } } });
  await page.addScriptTag({
    path: new URL("node_modules/hls.js/dist/hls.min.js", import.meta.url).pathname,
  });
  // Wait for the playlist to list two segments before the player starts, as a viewer
  // arriving at a running show would find it.
  const deadline = Date.now() + 20000;
  for (;;) {
    const listed = await page.evaluate(async () => {
      const r = await fetch("/hls/main/index.m3u8");
      return r.ok ? (await r.text()).split("\n").filter((l) => l.startsWith("#EXTINF")).length : 0;
    });
    if (listed >= 2) break;
    if (Date.now() > deadline) throw new Error("the HLS playlist never listed two segments");
    await page.waitForTimeout(200);
  }
  await page.evaluate((behind) => {
    const v = document.createElement("video");
    v.id = "v0";
    v.muted = true;
    v.autoplay = true;
    v.playsInline = true;
    document.body.appendChild(v);
    // hls.js's defaults for a live playlist, but for how many segments behind its end it
    // plays (liveSyncDurationCount, 3 by default).
    const hls = new Hls({ liveSyncDurationCount: behind });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) console.log("hls.js error: " + data.type + " " + data.details);
    });
    hls.loadSource("/hls/main/index.m3u8");
    hls.attachMedia(v);
    window.hls = hls;
  }, behind);
}

async function endHls(page) {
  await page.evaluate(() => {
    window.hls.destroy();
    document.getElementById("v0").remove();
  });
  await command(page, { stop_output: { id: "bench-hls" } });
}

const browser = await launch();
try {
  for (const [index, phase] of plan.phases.entries()) {
    // A fresh context (and so a fresh cache) each run: segments of an earlier HLS output on the
    // canvas have the same names, and may be cached.
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on("pageerror", (e) => console.error("page error: " + e.message));
    page.on("console", (m) => console.error("page: " + m.text()));
    await page.addInitScript(installHelpers);
    await page.goto(url + "openapi.json");
    const viewers = phase.kind === "whep" ? phase.viewers : 1;
    if (phase.kind === "whep") {
      await page.evaluate(startViewers, viewers);
    } else {
      await startHls(page, phase.behind);
    }
    await page.evaluate(watch, { id: "v0", block: plan.block, blocks: plan.blocks });
    await page.waitForFunction(() => window.presented > 5, null, { timeout: 30000, polling: 100 });
    if (phase.kind === "whep") {
      // Every viewer receives video, not only the one shown.
      await page.waitForFunction(async () => (await window.bytesReceived()).every((b) => b > 0), null, {
        timeout: 30000,
        polling: 200,
      });
    }
    say({ event: "playing", phase: index, kind: phase.kind, viewers });
    await page.waitForTimeout(plan.settle * 1000);
    const before = phase.kind === "whep" ? await page.evaluate(() => window.bytesReceived()) : [];
    const heldBefore = phase.kind === "whep" ? await page.evaluate(() => window.jitterBuffer()) : [0, 0];
    await page.evaluate(() => {
      window.frames = [];
      window.recording = true;
    });
    say({ event: "start", phase: index });
    await page.waitForTimeout(plan.seconds * 1000);
    const frames = await page.evaluate(() => {
      window.recording = false;
      return window.frames;
    });
    const after = phase.kind === "whep" ? await page.evaluate(() => window.bytesReceived()) : [];
    const received = after.map((b, i) => b - before[i]);
    const heldAfter = phase.kind === "whep" ? await page.evaluate(() => window.jitterBuffer()) : [0, 0];
    // The shown viewer's mean jitter buffer delay over the run, ms (WHEP only).
    const emitted = heldAfter[1] - heldBefore[1];
    const jitter_ms = emitted > 0 ? ((heldAfter[0] - heldBefore[0]) / emitted) * 1000 : null;
    say({ event: "end", phase: index, frames, received, jitter_ms });
    if (phase.kind === "whep") {
      await endViewers(page);
    } else {
      await endHls(page);
    }
    await context.close();
  }
  console.log("ok");
  await browser.close();
} catch (error) {
  console.log("failed: " + error.message);
  await browser.close();
  process.exit(1);
}

// What the browser tests share: Debian's chromium launched headless as every test launches it,
// their step lines, the scene colours and reading a picture's centre.
import { chromium } from "playwright-core";

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
}

export function step(text) {
  console.log("step: " + text);
}

export const red = ([r, g, b]) => r > 180 && g < 70 && b < 70;
export const blue = ([r, g, b]) => b > 180 && r < 70 && g < 70;

// POSTs a studio command from the page (same origin); throws unless it is applied.
export async function command(page, body) {
  const answer = await page.evaluate(async (body) => {
    const r = await fetch("/api/command", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: r.status, text: await r.text() };
  }, body);
  if (answer.status !== 200) throw new Error(`${JSON.stringify(body)}: ${answer.status} ${answer.text}`);
}

// The RGB colour at the centre of the picture element `id` (an <img> or a playing <video>),
// drawn on a canvas; null while it has no picture.
export function centreColour(page, id) {
  return page.evaluate((id) => {
    const e = document.getElementById(id);
    const width = e && (e.videoWidth || e.naturalWidth);
    if (!width) return null;
    const height = e.videoHeight || e.naturalHeight;
    const c = document.createElement("canvas");
    c.width = width;
    c.height = height;
    const g = c.getContext("2d");
    g.drawImage(e, 0, 0);
    const d = g.getImageData(width >> 1, height >> 1, 1, 1).data;
    return [d[0], d[1], d[2]];
  }, id);
}

// Waits (at most `seconds`) for the centre of element `id` to pass `test`.
export async function waitForColour(page, id, name, test, seconds) {
  const deadline = Date.now() + seconds * 1000;
  let last = null;
  while (Date.now() < deadline) {
    last = await centreColour(page, id);
    if (last && test(last)) return last;
    await page.waitForTimeout(20);
  }
  throw new Error(`#${id} never turned ${name} (last centre pixel ${JSON.stringify(last)})`);
}

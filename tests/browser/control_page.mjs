// The control page in a real browser (Debian's chromium, headless, driven by playwright-core).
// Run by crates/livekit-cli/tests/control.rs against a running `livekit studio` whose scene
// file has the scenes `main` (red) and `break` (blue):
//
//   node control_page.mjs URL RECORDING_PATH STREAM_URL
//
// Prints one line per step; exits 1 with the reason at the first step that fails.
import { blue, launch, red, step, waitForColour as waitFor } from "./common.mjs";

const [url, recording, streamUrl] = process.argv.slice(2);
if (!url || !recording || !streamUrl) {
  console.error("usage: node control_page.mjs URL RECORDING_PATH STREAM_URL");
  process.exit(2);
}

const browser = await launch();
const waitForColour = (page, name, test) => waitFor(page, "preview", name, test, 10);

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (e) => console.log("page error: " + e.message));
  // The MJPEG preview here (whep_page.mjs checks the page's WebRTC preview).
  await page.goto(url + "?preview=mjpeg");
  await page.waitForSelector('#scenes button[data-scene="break"]', { timeout: 10000 });
  await page.waitForSelector("#connection.connected", { timeout: 10000 });
  step("the page shows the scenes, connected");

  await waitForColour(page, "red", red);
  step("the preview shows the live scene (red)");

  await page.click('#scenes button[data-scene="break"]');
  await waitForColour(page, "blue", blue);
  await page.waitForSelector('#scenes button.live[data-scene="break"]', { timeout: 5000 });
  step("clicking scene break turned the preview blue and marked it live");

  // A second page, phone-sized, stays in step with the first.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await phone.goto(url + "?preview=mjpeg");
  await phone.waitForSelector('#scenes button.live[data-scene="break"]', { timeout: 10000 });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth);
  if (overflow > 390) throw new Error(`the phone-sized page is ${overflow} px wide`);
  // A digit key switches scenes, as in the terminal.
  await page.locator("body").click({ position: { x: 5, y: 5 } });
  await page.keyboard.press("1");
  await phone.waitForSelector('#scenes button.live[data-scene="main"]', { timeout: 5000 });
  await waitForColour(phone, "red", red);
  step("key 1 on one page switched both pages (and the phone-sized one fits its screen)");

  await page.fill("#record-path", recording);
  await page.click("#record-start");
  await page.waitForSelector('li[data-output="record"][data-state="live"]', { timeout: 10000 });
  step("recording started from the page");
  await page.waitForTimeout(2500);
  await page.click('li[data-output="record"] button:has-text("stop")');
  await page.waitForSelector('li[data-output="record"][data-state="stopped"]', { timeout: 10000 });
  step("recording stopped from the page");

  await page.fill("#stream-to", streamUrl);
  await page.click("#stream-start");
  await page.waitForSelector('li[data-output="stream"] [data-state="live"]', { timeout: 20000 });
  const text = await page.evaluate(() => document.body.innerText);
  const key = streamUrl.split("/").pop();
  if (text.includes(key)) throw new Error("the page shows the stream key");
  step("the stream's destination shows live, key redacted");

  const shown = await page.evaluate(() => document.getElementById("stats").textContent);
  if (!/fps/.test(shown)) throw new Error(`no statistics shown: ${shown}`);
  step("statistics shown: " + shown);
  console.log("ok");
  await browser.close();
} catch (error) {
  console.log("failed: " + error.message);
  await browser.close();
  process.exit(1);
}

// The livekit studio control page: everything through the API (POST /api/command) and the
// event socket (/api/events); the state document is read again when an event says the show
// changed, so two pages stay in step. No polling, nothing fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
let state = null;
let canvasId = null;
let socket = null;
let retry = 500;

function say(text, error) {
  const m = $("message");
  m.textContent = text;
  m.className = error ? "error" : "";
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (response.status === 401) {
    askToken();
    throw new Error("a token is needed");
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(data && data.message ? data.message : response.statusText);
  return data;
}

async function command(cmd) {
  try {
    await api("POST", "/api/command", cmd);
    say(Object.keys(cmd)[0].replace(/_/g, " "));
  } catch (e) {
    say(e.message, true);
  }
}

function askToken() {
  $("login").hidden = false;
  $("app").hidden = true;
  $("token").focus();
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: $("token").value }),
  });
  if (response.ok) {
    $("token").value = "";
    $("login").hidden = true;
    $("app").hidden = false;
    connect();
  } else {
    $("login-error").textContent = "wrong token";
  }
});

function canvas() {
  if (!state) return null;
  return state.canvases.find((c) => c.id === canvasId) || state.canvases[0] || null;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function badge(text) {
  return el("span", { class: "badge " + text }, text);
}

function kbps(bits) {
  return (bits / 1000).toFixed(0) + " kb/s";
}

// The program preview: WebRTC (WHEP) where the browser has it, a fraction of a second behind
// the show; the MJPEG stream otherwise, or when WHEP fails (`?preview=mjpeg` asks for it).
let previewOf = null;
let whep = null; // { pc, location }

function mjpeg(id) {
  const src = "/api/canvases/" + encodeURIComponent(id) + "/preview.mjpeg";
  $("live").hidden = true;
  $("preview").hidden = false;
  if ($("preview").dataset.src !== src) {
    $("preview").src = src;
    $("preview").dataset.src = src;
  }
  $("program").dataset.preview = "mjpeg";
}

function endWhep() {
  if (!whep) return;
  const { pc, location } = whep;
  whep = null;
  pc.close();
  if (location) fetch(location, { method: "DELETE", keepalive: true }).catch(() => {});
}

async function startWhep(id) {
  const pc = new RTCPeerConnection();
  whep = { pc, location: null };
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.ontrack = (e) => stream.addTrack(e.track);
  pc.onconnectionstatechange = () => {
    if (whep && whep.pc === pc && pc.connectionState === "failed") {
      endWhep();
      mjpeg(id);
    }
  };
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const response = await fetch("/whep/" + encodeURIComponent(id), {
    method: "POST",
    headers: { "Content-Type": "application/sdp" },
    body: offer.sdp,
    credentials: "same-origin",
  });
  if (response.status !== 201) throw new Error("WHEP: " + response.status);
  if (!whep || whep.pc !== pc) return;
  whep.location = response.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  const video = $("live");
  video.srcObject = stream;
  video.hidden = false;
  $("preview").hidden = true;
  $("preview").removeAttribute("src");
  $("preview").dataset.src = "";
  $("program").dataset.preview = "webrtc";
}

function showPreview(id) {
  if (previewOf === id) return;
  previewOf = id;
  endWhep();
  const wanted = new URLSearchParams(location.search).get("preview");
  if (!window.RTCPeerConnection || wanted === "mjpeg") {
    mjpeg(id);
    return;
  }
  startWhep(id).catch(() => {
    endWhep();
    if (previewOf === id) mjpeg(id);
  });
}

window.addEventListener("pagehide", endWhep);

function render() {
  if (!state) return;
  // Canvases.
  const select = $("canvas");
  const ids = state.canvases.map((c) => c.id);
  if (select.dataset.ids !== ids.join(",")) {
    select.replaceChildren(...ids.map((id) => el("option", { value: id }, id)));
    select.dataset.ids = ids.join(",");
  }
  const c = canvas();
  if (c && canvasId !== c.id) {
    canvasId = c.id;
  }
  if (c) {
    select.value = c.id;
    showPreview(c.id);
  }
  // Scenes.
  $("scenes").replaceChildren(
    ...(c ? c.scenes : []).map((s, i) =>
      el(
        "button",
        {
          class: s.name === c.scene ? "live" : "",
          title: i < 9 ? "key " + (i + 1) : "",
          "data-scene": s.name,
          onclick: () => switchScene(s.name),
        },
        (i < 9 ? i + 1 + " " : "") + s.name,
      ),
    ),
  );
  // Layers of the live scene, front first.
  const scene = c ? c.scenes.find((s) => s.name === c.scene) : null;
  $("layers-scene").textContent = scene ? "(" + scene.name + ")" : "";
  const layers = scene ? [...scene.layers].reverse() : [];
  $("layers").replaceChildren(
    ...layers.map((l, i) => {
      const visible = l.visible !== false;
      return el(
        "li",
        { class: visible ? "" : "hidden", "data-layer": l.id },
        el("span", { class: "name" }, l.id + (l.input ? " \u2190 " + l.input : "")),
        el("button", { onclick: () => command({ update_layer: { id: l.id, visible: !visible } }) }, visible ? "hide" : "show"),
        el("button", { disabled: i === 0 ? "" : null, onclick: () => restack(layers, i, -1), "aria-label": "up" }, "\u2191"),
        el("button", { disabled: i === layers.length - 1 ? "" : null, onclick: () => restack(layers, i, 1), "aria-label": "down" }, "\u2193"),
      );
    }),
  );
  // Inputs.
  $("inputs").replaceChildren(
    ...state.inputs.map((input) => {
      const li = el("li", { "data-input": input.id }, el("span", { class: "name" }, input.id + " (" + input.input.kind + ")"), badge(input.state));
      if (input.error) li.append(el("span", { class: "error" }, input.error));
      if (input.input.kind === "file" || input.input.kind === "playlist") {
        li.append(
          el("button", { onclick: () => command(input.state === "paused" ? { resume_input: { id: input.id } } : { pause_input: { id: input.id } }) }, input.state === "paused" ? "resume" : "pause"),
        );
      }
      if (input.audio) {
        li.append(el("button", { onclick: () => command({ set_audio: { id: input.id, muted: !input.audio.muted } }) }, input.audio.muted ? "unmute" : "mute"));
      }
      return li;
    }),
  );
  // Outputs.
  $("outputs").replaceChildren(
    ...state.outputs.map((o) => {
      const running = o.state === "starting" || o.state === "live";
      const li = el(
        "li",
        { "data-output": o.id, "data-state": o.state },
        el("span", { class: "name" }, o.id + " (" + o.output.kind + ")"),
        badge(o.state),
      );
      if (o.recording) li.append(el("span", {}, (o.recording.bytes / 1e6).toFixed(1) + " MB"));
      if (running) li.append(el("button", { onclick: () => command({ stop_output: { id: o.id } }) }, "stop"));
      if (o.error) li.append(el("span", { class: "error" }, o.error));
      if (o.destinations) {
        li.append(
          el(
            "div",
            { class: "destinations" },
            ...o.destinations.map((d) =>
              el("div", { "data-destination": d.name, "data-state": d.state }, d.name + " ", badge(d.state), " " + kbps(d.bitrate)),
            ),
          ),
        );
      }
      return li;
    }),
  );
  renderStats();
}

function renderStats() {
  if (!state) return;
  const s = state.stats;
  const dropped = state.outputs.reduce((n, o) => n + o.dropped_frames, 0);
  $("stats").textContent = s.fps.toFixed(1) + " fps, render " + s.render_ms.toFixed(1) + " ms, " + (s.late_frames + dropped) + " dropped";
  const level = Math.max(0, Math.min(1, (s.audio_peak_db + 60) / 60));
  $("level").style.width = (level * 100).toFixed(0) + "%";
  $("level").parentElement.title = "program audio peak " + s.audio_peak_db.toFixed(1) + " dBFS";
}

function switchScene(name) {
  const t = $("transition").value;
  const transition = t === "cut" ? "cut" : { fade: Number(t) };
  command({ switch_scene: { canvas: canvasId, scene: name, transition } });
}

// Moves a layer one place up (front) or down, by giving it a z just past its neighbour's.
function restack(layers, i, direction) {
  const j = i + direction;
  if (j < 0 || j >= layers.length) return;
  const z = (l, k) => (l.z !== undefined && l.z !== null ? l.z : layers.length - 1 - k);
  const neighbour = z(layers[j], j);
  command({ update_layer: { id: layers[i].id, z: direction < 0 ? neighbour + 1 : neighbour - 1 } });
}

async function reload() {
  try {
    state = await api("GET", "/api/state");
    render();
  } catch (e) {
    say(e.message, true);
  }
}

function connect() {
  if (socket) socket.close();
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/api/events");
  socket.onopen = () => {
    retry = 500;
    $("connection").textContent = "connected";
    $("connection").className = "badge connected";
  };
  socket.onmessage = (message) => {
    const m = JSON.parse(message.data);
    if (m.type === "state") {
      state = m.state;
      render();
    } else if (m.type === "lost") {
      reload();
    } else if (m.type === "event") {
      onEvent(m);
    }
  };
  socket.onclose = () => {
    $("connection").textContent = "disconnected";
    $("connection").className = "badge disconnected";
    // A 401 closes the socket before it opens: ask whether the API wants a token.
    fetch("/api/stats").then((r) => {
      if (r.status === 401) askToken();
      else setTimeout(connect, (retry = Math.min(retry * 2, 5000)));
    }, () => setTimeout(connect, (retry = Math.min(retry * 2, 5000))));
  };
}

function onEvent(e) {
  if (!state) return;
  switch (e.event) {
    case "stats":
      // Once a second: the statistics, and the counters that move without an event of their
      // own (bytes recorded, each destination's bit rate).
      Object.assign(state.stats, e);
      delete state.stats.type;
      delete state.stats.event;
      renderStats();
      if (state.outputs.length) reload();
      break;
    case "scene_switched": {
      const c = state.canvases.find((x) => x.id === e.canvas);
      if (c) c.scene = e.scene;
      render();
      break;
    }
    case "destination": {
      const o = state.outputs.find((x) => x.id === e.output);
      const d = o && o.destinations ? o.destinations.find((x) => x.name === e.name) : null;
      if (d) {
        Object.assign(d, e);
        render();
      } else reload();
      break;
    }
    default:
      // Inputs, outputs and applied commands change more than the event says: read the whole.
      reload();
  }
}

$("canvas").addEventListener("change", () => {
  canvasId = $("canvas").value;
  render();
});

$("record-form").addEventListener("submit", (event) => {
  event.preventDefault();
  startRecording();
});

$("stream-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const to = $("stream-to").value.split(",").map((s) => s.trim()).filter(Boolean);
  command({ start_output: { id: freeId("stream"), canvas: canvasId, output: { kind: "stream", to } } });
});

function freeId(base) {
  const taken = new Set(state ? state.outputs.map((o) => o.id) : []);
  if (!taken.has(base)) return base;
  let n = 2;
  while (taken.has(base + "-" + n)) n++;
  return base + "-" + n;
}

function runningRecording() {
  return state ? state.outputs.find((o) => o.output.kind === "record" && (o.state === "starting" || o.state === "live")) : null;
}

function startRecording() {
  const path = $("record-path").value.trim();
  if (!path) {
    say("give the recording a file name", true);
    $("record-path").focus();
    return;
  }
  command({ start_output: { id: freeId("record"), canvas: canvasId, output: { kind: "record", path } } });
}

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
  const c = canvas();
  if (/^[1-9]$/.test(event.key) && c) {
    const scene = c.scenes[Number(event.key) - 1];
    if (scene) switchScene(scene.name);
    else say("no scene " + event.key, true);
  } else if (event.key === "r") {
    const running = runningRecording();
    if (running) command({ stop_output: { id: running.id } });
    else startRecording();
  } else if (event.key === "p" || event.key === "n") {
    const media = state.inputs.filter((i) => i.input.kind === "playlist" || (event.key === "p" && i.input.kind === "file"));
    if (!media.length) say("no file or playlist", true);
    for (const i of media) {
      if (event.key === "n") command({ skip_input: { id: i.id } });
      else command(i.state === "paused" ? { resume_input: { id: i.id } } : { pause_input: { id: i.id } });
    }
  } else if (event.key === "?") {
    say("1-9 switch scene, r start/stop recording, p pause/resume files, n next playlist entry");
  }
});

connect();

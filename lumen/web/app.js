// The Lumen browser demo: microphone -> AudioWorklet -> 16-bit PCM -> WebSocket -> transcript.
//
// No framework and no build step.  The WebSocket URL is built from the page's
// own location (ws:// next to http://, wss:// next to https://), so the demo
// works behind a reverse proxy and over TLS unchanged.  Browsers cannot set
// headers on a WebSocket, so the token goes in ?token= (the server keeps it
// out of its logs).  A token in the page's #token= fragment is picked up
// and removed from the address bar (fragments never reach the server).

"use strict";

const CLOSE_MEANINGS = {
  1000: "normal end",
  1001: "the server is shutting down",
  1006: "connection lost (or refused at the handshake)",
  1007: "the audio could not be decoded",
  1008: "policy: idle too long, token expired or session too long",
  1009: "a message was too large",
  1011: "server error",
  1013: "the server is overloaded; try again later",
};

const $ = (id) => document.getElementById(id);
let live = null; // the current recording: {ws, audio, stream, node, opened}
let timeline = []; // the live speaker timeline: [{start, end, speaker}] (speakers.turns)

function setStatus(text, kind = "") {
  $("status").textContent = text;
  $("status").className = kind;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

function clock(seconds) {
  const minutes = Math.floor(seconds / 60);
  const rest = (seconds - minutes * 60).toFixed(1).padStart(4, "0");
  return `${String(minutes).padStart(2, "0")}:${rest}`;
}

function speakerClass(speaker) {
  const number = parseInt(String(speaker).replace(/\D/g, ""), 10);
  return Number.isFinite(number) ? `sp${number % 8}` : "";
}

function socketUrl() {
  const url = new URL("ws/transcribe", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.hash = "";
  return url;
}

// -- results ------------------------------------------------------------------
function setSpeaker(element, speaker) {
  element.textContent = speaker || "";
  element.className = `speaker ${speaker ? speakerClass(speaker) : ""}`;
}

function addFinal(message) {
  $("partial").textContent = "";
  if (!message.text) return; // speech that turned out to be nothing
  const item = document.createElement("li");
  item.dataset.segment = message.segment_id;
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = `${clock(message.start)} – ${clock(message.end)}`;
  const speaker = document.createElement("span");
  setSpeaker(speaker, message.speaker);
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = message.text;
  item.append(time, speaker, text);
  $("finals").append(item);
  item.scrollIntoView({ block: "nearest" });
}

function relabel(segments) {
  for (const { segment_id: id, speaker } of segments) {
    const element = document.querySelector(`#finals li[data-segment="${id}"] .speaker`);
    if (!element || element.textContent === speaker) continue;
    setSpeaker(element, speaker);
    element.classList.add("changed");
    element.title = "speaker corrected";
  }
}

// speakers.turns: the turns after `since` are replaced (one across it is cut there).
function applyTurns(since, turns) {
  timeline = timeline.filter((turn) => turn.start < since)
    .map((turn) => ({ ...turn, end: Math.min(turn.end, since) }))
    .concat(turns);
  showTalkTime();
}

function showTalkTime() {
  const talk = new Map();
  for (const { start, end, speaker } of timeline) talk.set(speaker, (talk.get(speaker) || 0) + end - start);
  const total = [...talk.values()].reduce((a, b) => a + b, 0);
  const parts = [...talk.entries()].sort().map(([speaker, seconds]) => {
    const part = document.createElement("span");
    setSpeaker(part, speaker);
    part.textContent = `${speaker} ${clock(seconds)} (${Math.round((100 * seconds) / total)} %)`;
    return part;
  });
  $("talk").replaceChildren(...parts);
  $("talk").hidden = parts.length === 0;
}

function onMessage(event) {
  const message = JSON.parse(event.data);
  switch (message.type) {
    case "session.started":
      setStatus(`live — session ${message.session_id.slice(0, 8)}, model ${message.model}` +
                (message.config.diarize ? ", speakers on" : ""), "live");
      break;
    case "transcript":
      if (message.is_final) addFinal(message);
      else $("partial").textContent = message.text;
      break;
    case "speakers.updated":
      relabel(message.segments);
      if (message.turns) applyTurns(0, message.turns); // the session's last: the whole timeline
      break;
    case "speakers.turns":
      applyTurns(message.since, message.turns);
      break;
    case "error":
      showError(`${message.code}: ${message.message}`);
      break;
    case "session.ended":
      setStatus(`session ended (${message.reason}): ${message.audio_seconds.toFixed(1)} s of audio, ` +
                `${message.segments} segment(s)`);
      break;
  }
}

// -- connection -----------------------------------------------------------------
// A refused handshake reaches the page only as close 1006; the same request as a
// plain GET gets the server's JSON answer, which says why.
async function explainRefusal(url) {
  const probe = new URL(url);
  probe.protocol = probe.protocol === "wss:" ? "https:" : "http:";
  try {
    const response = await fetch(probe, { cache: "no-store" });
    const body = await response.json();
    if (body && body.error) return `HTTP ${response.status} ${body.error}: ${body.message}`;
  } catch (_) {
    // Not JSON (the handshake itself was fine) or the server is unreachable.
  }
  return "could not connect to the server";
}

function onClose(event) {
  const current = live;
  stopAudio();
  live = null;
  $("start").disabled = false;
  $("stop").disabled = true;
  $("partial").textContent = "";
  const meaning = CLOSE_MEANINGS[event.code] || event.reason || "";
  const summary = `closed ${event.code}${meaning ? ` (${meaning})` : ""}`;
  if (event.code === 1000) {
    setStatus(`${$("status").textContent} — ${summary}`);
    return;
  }
  setStatus(summary, "bad");
  if (current && !current.opened) {
    explainRefusal(current.ws.url).then((why) => showError(`connection refused: ${why}`));
  } else if ($("error").hidden) {
    showError(summary);
  }
}

// -- audio ----------------------------------------------------------------------
async function openAudio() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: true },
  });
  // 16 kHz straight from the browser's resampler when it allows; some browsers
  // cannot feed a 16 kHz context from a 48 kHz microphone, then the server resamples.
  let audio = new AudioContext({ sampleRate: 16000 });
  let source;
  try {
    source = audio.createMediaStreamSource(stream);
  } catch (_) {
    await audio.close();
    audio = new AudioContext();
    source = audio.createMediaStreamSource(stream);
  }
  await audio.audioWorklet.addModule("web/worklet.js");
  const node = new AudioWorkletNode(audio, "pcm-capture", {
    processorOptions: { chunkFrames: Math.round(audio.sampleRate / 10) },
  });
  source.connect(node);
  node.connect(audio.destination); // silent: the processor writes no output
  return { audio, stream, node };
}

function stopAudio() {
  if (!live || !live.audio) return;
  live.node.port.onmessage = null;
  live.stream.getTracks().forEach((track) => track.stop());
  live.audio.close();
  live.audio = null;
  $("level").value = 0;
}

async function start(event) {
  event.preventDefault();
  showError("");
  if (!window.isSecureContext || !navigator.mediaDevices) {
    showError("The microphone needs a secure page: open this demo over https:// " +
              "(lumen serve --certfile/--keyfile, or TLS at a proxy) or on localhost.");
    return;
  }
  const token = $("token").value.trim();
  if (!token) {
    showError("Enter a token first (lumen token --sub you).");
    return;
  }
  $("start").disabled = true;
  setStatus("opening the microphone…");
  let capture;
  try {
    capture = await openAudio();
  } catch (error) {
    $("start").disabled = false;
    setStatus("idle");
    showError(`microphone: ${error.message || error.name}`);
    return;
  }
  const url = socketUrl();
  url.search = new URLSearchParams({
    sample_rate: String(capture.audio.sampleRate),
    encoding: "pcm_s16le",
    interim_results: String($("interim").checked),
    diarize: String($("diarize").checked),
    speaker_turns: String($("diarize").checked), // for the talk time of each speaker
    ...($("denoise").checked ? { denoise: "true" } : {}),  // unchecked: the server's default
    ...($("language").value.trim() ? { language: $("language").value.trim() } : {}),
    token,
  }).toString();
  setStatus("connecting…");
  $("finals").replaceChildren();
  timeline = [];
  showTalkTime();
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  live = { ws, ...capture, opened: false };
  ws.onopen = () => {
    live.opened = true;
    $("stop").disabled = false;
  };
  ws.onmessage = onMessage;
  ws.onclose = onClose;
  capture.node.port.onmessage = ({ data }) => {
    $("level").value = Math.min(1, data.rms * 4);
    if (ws.readyState === WebSocket.OPEN) ws.send(data.pcm);
  };
}

function stop() {
  if (!live) return;
  $("stop").disabled = true;
  setStatus("finishing: waiting for the last results…");
  const { ws, node } = live;
  // The worklet posts what it still holds, then the page asks for the last finals.
  node.port.onmessage = ({ data }) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(data.pcm);
  };
  node.port.postMessage("flush");
  setTimeout(() => {
    stopAudio();
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "end" }));
  }, 50);
}

function init() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    $("token").value = fragment.get("token");
    history.replaceState(null, "", location.pathname + location.search);
  }
  $("controls").addEventListener("submit", start);
  $("stop").addEventListener("click", stop);
}

init();

// @ts-check
/**
 * A timelapse of how the tapestry was woven: the history replayed from its
 * first op to its last into a video (MP4 where the browser records it, else
 * WebM), the camera fixed on the finished tapestry. AI work wears its mark as
 * on the canvas, and a strip along the bottom tells organic from AI as the
 * share grows. Made in the browser, from the history already loaded.
 */

import { grow, union } from "./geometry.js";
import { AI_ACCENT, Camera } from "./render.js";

/** @typedef {import("./replay.js").Replay} Replay */
/** @typedef {import("./render.js").Renderer} Renderer */

const ORGANIC = "#ffb35c";
/** The longest timelapse, and the largest frame: the budget of an export. */
export const MAX_SECONDS = 30;
const MAX_SIDE = 1280;

/** The recording format: MP4 when the browser can, WebM otherwise. */
export function videoType() {
  for (const t of ["video/mp4;codecs=avc1", "video/mp4", "video/webm;codecs=vp9", "video/webm"]) {
    if (typeof MediaRecorder !== "undefined" && MediaRecorder.isTypeSupported(t)) return t;
  }
  return null;
}

/**
 * How many ops each frame advances, so that `ops` fit in `frames` frames (at least one op a frame
 * when there are more frames than ops: then the last frames hold the finished tapestry).
 * @param {number} ops @param {number} frames @param {number} frame (0-based) @returns {number} the position to show
 */
export function positionAt(ops, frames, frame) {
  if (frames <= 1) return ops;
  return Math.min(ops, Math.round((ops * frame) / (frames - 1)));
}

/**
 * Record the timelapse. `onProgress` gets the share done (0..1).
 * @param {Replay} replay @param {Renderer} r
 * @param {{seconds?: number, fps?: number, onProgress?: (done: number) => void}} [opts]
 * @returns {Promise<Blob>}
 */
export async function recordTimelapse(replay, r, opts = {}) {
  const type = videoType();
  if (!type) throw new Error("this browser cannot record video");
  const seconds = Math.max(1, Math.min(MAX_SECONDS, opts.seconds ?? 10));
  const fps = opts.fps ?? 30;
  const frames = Math.round(seconds * fps);
  const ops = replay.entries.length;
  const back = replay.position;
  // The camera frames the finished tapestry.
  replay.seek(ops);
  const boxes = [...replay.replica.entries.values()].filter((e) => e.box && r.visible(e.frag)).map((e) => /** @type {any} */ (e.box));
  const box = grow(union(boxes) ?? { x0: -200, y0: -150, x1: 200, y1: 150 }, 40);
  const k = Math.min(MAX_SIDE / (box.x1 - box.x0), MAX_SIDE / (box.y1 - box.y0));
  const w = Math.max(2, Math.round(((box.x1 - box.x0) * k) / 2) * 2);
  const h = Math.max(2, Math.round(((box.y1 - box.y0) * k) / 2) * 2);
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  const cam = new Camera();
  cam.x = box.x0;
  cam.y = box.y0;
  cam.zoom = w / (box.x1 - box.x0);
  const stream = canvas.captureStream(fps);
  const recorder = new MediaRecorder(stream, { mimeType: type, videoBitsPerSecond: 4_000_000 });
  /** @type {Blob[]} */
  const chunks = [];
  recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
  const done = new Promise((resolve) => (recorder.onstop = resolve));
  const frame = (/** @type {number} */ i) => {
    replay.seek(positionAt(ops, frames, i));
    r.draw(ctx, w, h, cam, 1, { overlays: false });
    drawStrip(ctx, w, h, replay.replica.tapestry.liveCounts, replay.position / Math.max(1, ops));
  };
  frame(0);
  recorder.start();
  try {
    for (let i = 1; i < frames; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000 / fps));
      frame(i);
      opts.onProgress?.(i / (frames - 1));
    }
    // Hold the finished tapestry a moment.
    await new Promise((resolve) => setTimeout(resolve, 600));
  } finally {
    recorder.stop();
    await done;
    stream.getTracks().forEach((t) => t.stop());
    replay.seek(back);
  }
  return new Blob(chunks, { type: type.split(";")[0] });
}

/**
 * The strip along the bottom: how far the weaving has come, and the organic and AI shares of it.
 * @param {CanvasRenderingContext2D} ctx @param {number} w @param {number} h
 * @param {{organic: number, ai: number}} counts @param {number} progress
 */
function drawStrip(ctx, w, h, counts, progress) {
  const total = counts.organic + counts.ai;
  const y = h - 8;
  ctx.save();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.globalAlpha = 0.9;
  ctx.fillStyle = "#2a2b44";
  ctx.fillRect(0, y, w, 8);
  const done = w * progress;
  const organic = total ? (done * counts.organic) / total : done;
  ctx.fillStyle = ORGANIC;
  ctx.fillRect(0, y, organic, 8);
  ctx.fillStyle = AI_ACCENT;
  ctx.fillRect(organic, y, done - organic, 8);
  ctx.restore();
}

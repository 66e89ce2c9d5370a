// @ts-check
/**
 * The sanctuary page: wires the replica, the connection, the renderer, the
 * tools and the panels together, and exposes `window.dreamloom` (a read-only
 * debug hook: canonical state, seq, connection and queue).
 */

import { toHex } from "../protocol/canon.js";
import { sha256Hex } from "../protocol/digest.js";
import { Tapestry } from "../protocol/tapestry.js";
import { decodePieces, encodePieces, MIME, placePieces } from "./clipboard.js";
import { colourFor } from "./colours.js";
import { Editor } from "./editor.js";
import { Gestures } from "./gestures.js";
import { copyPng, download, pngBlob, svgBlob } from "./exporter.js";
import { ALIGN_SHIFT, grow, LINE_HEIGHT, textAlign, union } from "./geometry.js";
import { following as previewed } from "./attach.js";
import { group, ungroup } from "./groups.js";
import { isShortcut, isTextField } from "./keys.js";
import { Panels } from "./panels.js";
import { bindPressureToggle, previewOf } from "./pressure.js";
import { People } from "./people.js";
import { Renderer } from "./render.js";
import { Replay } from "./replay.js";
import { Replica } from "./replica.js";
import { claimReplica, getColour, getName, loadCache, loadView, saveView, setColour, setName } from "./storage.js";
import { mountStewardPanel } from "../steward.js";
import { captureToken } from "../tokens.js";
import { Sync } from "./sync.js";
import { fragmentsSvg } from "./svg.js";
import { initTheme, theme, toggleTheme } from "./theme.js";
import { recordTimelapse } from "./timelapse.js";
import { drawPreviewStroke, Tools } from "./tools.js";
import { $, buildPalette, renderBanner, renderDiversity, renderStatus, StylePanel, toast } from "./ui.js";
import { fitCamera, insetsOf } from "./view.js";

initTheme();
const sanctuary = decodeURIComponent(location.pathname.replace(/^\/s\//, "").replace(/\/$/, "")) || "lobby";
showTitle(sanctuary);

/** The chip and the tab show the sanctuary's title (its id until the title is known). @param {string} title */
function showTitle(title) {
  document.title = `${title} — Dreamloom`;
  $("title").textContent = title;
  $("title").title = title === sanctuary ? title : `${title} (${sanctuary})`;
}

async function loadTitle() {
  try {
    const res = await fetch(`/api/sanctuaries/${encodeURIComponent(sanctuary)}`);
    if (!res.ok) return;
    const info = await res.json();
    if (typeof info.title === "string" && info.title.trim()) showTitle(info.title.trim());
  } catch {
    // offline: the id stays
  }
}

async function askName() {
  const fromUrl = new URLSearchParams(location.search).get("name");
  if (fromUrl && fromUrl.trim()) {
    setName(fromUrl.trim().slice(0, 40));
  }
  const known = getName();
  if (known) return known;
  $("name-dialog").hidden = false;
  $("name-input").focus();
  return new Promise((resolve) => {
    $("name-form").addEventListener("submit", (/** @type {Event} */ e) => {
      e.preventDefault();
      const name = $("name-input").value.trim().slice(0, 40) || "dreamer";
      setName(name);
      $("name-dialog").hidden = true;
      resolve(name);
    });
  });
}

async function loadSymbols() {
  try {
    const res = await fetch("/api/symbols");
    if (!res.ok) throw new Error(String(res.status));
    const body = await res.json();
    return Array.isArray(body) ? body : body.symbols ?? [];
  } catch (err) {
    toast(`Dream symbols unavailable: ${err}`);
    return [];
  }
}

async function main() {
  captureToken(); // before the hello: a link's token is the one to present
  void mountStewardPanel();
  const symbolsLoading = loadSymbols();
  const name = await askName();
  const claim = claimReplica(sanctuary);

  // The last known state, so a reload while offline still shows the tapestry.
  const live = new Replica();
  const cache = loadCache(sanctuary);
  let seq = null;
  let epoch = null;
  if (cache && typeof cache.seq === "number") {
    try {
      live.reset(Tapestry.fromData(cache.data));
      seq = cache.seq;
      epoch = typeof cache.epoch === "string" ? cache.epoch : null;
    } catch {
      seq = null;
    }
  }
  const sync = new Sync({ sanctuary, name, replica: claim.replica, replicaState: live, seq, epoch, renewReplica: () => claim.renew() });
  const editor = new Editor(live, sync);
  /** @type {Replay | null} */
  let replay = null;
  const canvas = /** @type {HTMLCanvasElement} */ ($("canvas"));
  const renderer = new Renderer(canvas, () => (replay ? replay.replica : live));
  const style = new StylePanel();
  const tools = new Tools(canvas, renderer, editor, () => style.current());
  bindPressureToggle(/** @type {HTMLInputElement | null} */ (document.getElementById("pressure")), (on) => (tools.pressure = on));
  const panels = new Panels();
  const people = new People({ phone: () => panels.phone });
  /** @type {string | null} */
  let following = null;
  /** Our presence colour: the one we chose, unless someone present holds it (SPEC W11a). */
  let colour = getColour() ?? "#ece8ff";
  /** @type {number} when a steward's mute ends (ms since the epoch) */
  let mutedUntil = 0;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let muteTimer = null;
  /** @type {import("./gestures.js").Live | null} a slider or the colour picker being moved */
  let restyling = null;

  const showDiversity = () => {
    if (replay) renderDiversity(replay.replica.tapestry.liveCounts, `#${replay.seq}: `);
    else renderDiversity(live.tapestry.liveCounts);
  };
  // Others' moves, resizes and restyles while they happen (presence), until their ops land.
  const gestures = new Gestures((id) => live.get(id));
  let lingerTimer = /** @type {ReturnType<typeof setTimeout> | null} */ (null);
  const showGestures = () => {
    renderer.remote = gestures.shown();
    renderer.invalidate();
    if (gestures.lingering.size && !lingerTimer) {
      lingerTimer = setTimeout(() => {
        lingerTimer = null;
        showGestures();
      }, 2100);
    }
  };
  live.listeners.add((ids) => {
    renderer.invalidate();
    if (!replay) showDiversity();
    if (gestures.lingering.size || gestures.bySid.size) {
      gestures.landed(ids);
      showGestures();
    }
  });
  showDiversity();

  // -- connection ---------------------------------------------------------------
  const showStatus = () => {
    if (replay) renderStatus("history", `#${replay.seq}, op ${replay.position} of ${replay.entries.length}`, sync.pending.length);
    else renderStatus(sync.status, sync.statusDetail, sync.pending.length);
  };
  sync.addEventListener("status", showStatus);
  sync.addEventListener("pending", showStatus);
  sync.addEventListener("toast", (/** @type {any} */ e) => toast(e.detail));
  const showPeople = () => {
    people.render({ peers: sync.peers, peerCount: sync.peerCount, name, colour, following });
    const link = new URL(`/s/${encodeURIComponent(sanctuary)}`, location.href).href;
    $("share-link").value = link;
  };
  const follow = (/** @type {string | null} */ sid) => {
    following = sid;
    showPeople();
    showAccess();
    followNow();
  };
  people.addEventListener("follow", (/** @type {any} */ e) => follow(following === e.detail ? null : e.detail));
  people.addEventListener("open", () => panels.open("people-panel"));
  people.addEventListener("colour", (/** @type {any} */ e) => {
    colour = e.detail;
    setColour(colour);
    showPeople();
    sendPresence();
  });
  $("share-button").addEventListener("click", () => panels.toggle("people-panel"));
  sync.addEventListener("peers", () => {
    if (following && !sync.peers.has(following)) follow(null);
    showPeople();
    if (gestures.update(sync.peers.values())) showGestures();
    renderer.invalidate();
  });
  sync.addEventListener("presence", () => {
    followNow();
    showPeople();
    if (gestures.update(sync.peers.values())) showGestures();
    renderer.invalidate();
  });
  // The title once the tapestry is in: the page's answer touches every fragment on the server,
  // and must not compete with the welcome.
  sync.addEventListener("synced", () => loadTitle(), { once: true });
  sync.addEventListener("synced", () => {
    // Keep our colour unless someone already here holds it; the first one we get is ours from then on.
    const taken = [...sync.peers.values()].map((p) => p.color);
    const chosen = getColour();
    colour = chosen && !taken.includes(chosen) ? chosen : colourFor(sync.identity?.id ?? name, taken);
    if (!chosen) setColour(colour);
    // A viewer's ops would all be refused: say so instead of letting them draw in vain.
    if (sync.identity?.role === "viewer" && !editor.readOnly) toast("You are a viewer in this sanctuary: you can look, follow and export");
    showAccess();
    showPeople();
    sendPresence();
  });
  sync.addEventListener("policy", () => showAccess());
  sync.addEventListener("rejected", (/** @type {any} */ e) => {
    if (e.detail?.code === "muted") muted(10 * 60);
  });
  sync.addEventListener("server-error", (/** @type {any} */ e) => {
    if (e.detail?.code !== "muted") return;
    const m = /([\d.]+) seconds/.exec(String(e.detail.reason ?? ""));
    muted(m ? Number(m[1]) : 10 * 60);
  });
  /** A steward muted us: writing is off until the time passes. @param {number} seconds */
  const muted = (seconds) => {
    mutedUntil = Date.now() + seconds * 1000;
    if (muteTimer) clearTimeout(muteTimer);
    muteTimer = setTimeout(showAccess, seconds * 1000 + 50);
    showAccess();
  };

  /**
   * What we may do here, shown where it lasts: a banner, and the tools that
   * cannot be used turned off (a viewer, a locked canvas, a mute, history).
   */
  function showAccess() {
    const role = sync.identity?.role;
    const viewer = role === "viewer";
    const locked = !!sync.policy?.locked && role !== "steward";
    const isMuted = Date.now() < mutedUntil;
    editor.readOnly = viewer || locked || isMuted || !!replay;
    document.body.classList.toggle("readonly", editor.readOnly);
    refreshUndo();
    const peer = following ? sync.peers.get(following) : null;
    if (locked) renderBanner({ kind: "locked", text: "The steward locked the canvas: you can look, follow and export." });
    else if (isMuted) {
      const until = new Date(mutedUntil).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      renderBanner({ kind: "muted", text: `A steward muted you until ${until}: you can still watch.` });
    } else if (viewer) renderBanner({ kind: "viewer", text: "You are a viewer here: you can look, follow and export." });
    else renderBanner(null);
    if (peer) {
      renderBanner({ kind: "following", text: `Following ${peer.name || "someone"}`, action: { label: "Stop following", run: () => follow(null) } });
    }
  }
  showPeople();
  showStatus();
  // Connect now: the rest of the page is wired before the welcome can arrive or is ready for it.
  sync.start();

  // -- presence -----------------------------------------------------------------
  const sendPresence = () => {
    const c = renderer.camera;
    const view = [c.x + renderer.width / 2 / c.zoom, c.y + renderer.height / 2 / c.zoom, c.zoom].map(
      (v) => Math.round(v * 1000) / 1000,
    );
    const preview = tools.preview && tools.preview.pts.length >= 2 ? previewOf(tools.preview) : null;
    sync.setPresence({ cursor: tools.cursor, sel: tools.selected.slice(0, 256), preview, view, color: colour, live: tools.live ?? restyling });
  };
  tools.addEventListener("presence", sendPresence);
  tools.addEventListener("interact", () => {
    if (following) follow(null);
    panels.closeSheets();
  });

  function followNow() {
    if (!following) return;
    const p = sync.peers.get(following);
    if (!p || !p.view) return;
    const [x, y, zoom] = p.view;
    renderer.camera.centreOn(x, y, zoom, renderer.width, renderer.height);
    showZoom();
    renderer.invalidate();
  }

  renderer.worldOverlays.push((ctx) => {
    if (replay) return;
    for (const p of sync.peers.values()) {
      if (p.preview && Array.isArray(p.preview.pts) && p.preview.pts.length >= 2) {
        drawPreviewStroke(ctx, p.preview.pts, { ...(p.preview.style ?? {}), opacity: 0.6 * (p.preview.style?.opacity ?? 1) }, (c) => renderer.ink(c), p.preview.pressure);
      }
      if (p.sel?.length) {
        ctx.save();
        ctx.strokeStyle = p.color;
        ctx.lineWidth = 1.5 / renderer.camera.zoom;
        ctx.setLineDash([3 / renderer.camera.zoom, 3 / renderer.camera.zoom]);
        for (const id of p.sel) {
          const b = live.entries.get(id)?.box;
          if (b) {
            const g = grow(b, 3 / renderer.camera.zoom);
            ctx.strokeRect(g.x0, g.y0, g.x1 - g.x0, g.y1 - g.y0);
          }
        }
        ctx.restore();
      }
    }
  });
  renderer.screenOverlays.push((ctx) => {
    if (replay) return;
    for (const p of sync.peers.values()) {
      if (!p.cursor) continue;
      const [sx, sy] = renderer.camera.toScreen(p.cursor[0], p.cursor[1]);
      if (sx < -20 || sy < -20 || sx > renderer.width + 20 || sy > renderer.height + 20) continue;
      ctx.save();
      ctx.translate(sx, sy);
      ctx.fillStyle = p.color;
      ctx.beginPath();
      ctx.moveTo(0, 0);
      ctx.lineTo(0, 16);
      ctx.lineTo(4.5, 12);
      ctx.lineTo(11, 12);
      ctx.closePath();
      ctx.fill();
      const weaver = p.origin === "ai" || p.role === "weaver";
      const label = `${weaver ? "✦ " : ""}${p.name || "dreamer"}`;
      ctx.font = "12px system-ui, sans-serif";
      const w = ctx.measureText(label).width + 10;
      ctx.beginPath();
      ctx.roundRect(10, 16, w, 18, 6);
      ctx.fill();
      ctx.fillStyle = "#0f1020";
      ctx.fillText(label, 15, 29);
      ctx.restore();
    }
  });

  // -- tools and style ----------------------------------------------------------
  const toolButtons = /** @type {HTMLButtonElement[]} */ ([...document.querySelectorAll("#tools [data-tool]")]);
  const refreshTools = () => {
    for (const b of toolButtons) b.classList.toggle("on", b.dataset.tool === tools.tool);
    if (tools.tool === "symbol") panels.open("symbols");
    else panels.close("symbols");
  };
  for (const b of toolButtons) b.addEventListener("click", () => tools.setTool(/** @type {any} */ (b.dataset.tool)));
  tools.addEventListener("tool", refreshTools);
  // The palette gave way to the share or steward panel: it comes back when they close.
  panels.addEventListener("closed", (/** @type {any} */ e) => {
    const others = ["people-panel", "steward-panel"];
    if (others.includes(e.detail) && tools.tool === "symbol" && !panels.phone && !others.some((id) => panels.isOpen(id))) {
      panels.open("symbols");
    }
  });
  tools.setTool("pen");

  const refreshSelection = () => {
    const ids = tools.selected;
    $("selection-actions").hidden = !ids.length;
    if (ids.length === 1) {
      const f = live.get(ids[0]);
      if (f) style.show(f.style);
    }
  };
  tools.addEventListener("selection", refreshSelection);
  // The steward panel picks fragments on the canvas to remove.
  tools.addEventListener("selection", () => dispatchEvent(new CustomEvent("dreamloom:selection", { detail: tools.selected })));
  addEventListener("dreamloom:pick", () => {
    tools.setTool("select");
    tools.select([]);
  });
  // A slider or the colour picker being moved: shown here and to others as a gesture (presence),
  // written once, as one op per fragment and one undo step, when the control settles.
  style.addEventListener("change", (/** @type {any} */ e) => {
    const ids = tools.selected;
    if (!ids.length || editor.readOnly) return;
    if (!e.detail.group) return editor.restyle(ids, e.detail.patch);
    restyling = { ids: ids.slice(0, 256), style: { ...(restyling?.style ?? {}), ...e.detail.patch } };
    for (const id of ids) {
      const f = live.get(id);
      if (f) renderer.overrides.set(id, { ...f, style: { ...f.style, ...restyling.style } });
    }
    renderer.invalidate();
    sendPresence();
  });
  style.addEventListener("text-size", (/** @type {any} */ e) => {
    tools.textSize = e.detail;
    // Selected captions take the size too (as new ones are made at this zoom).
    const size = Math.round((e.detail / renderer.camera.zoom) * 100) / 100;
    const texts = /** @type {NonNullable<ReturnType<typeof live.get>>[]} */ (
      tools.selected.map((id) => live.get(id)).filter((f) => f && f.kind === "text")
    );
    if (texts.length && !editor.readOnly) editor.replace("caption size", texts.map((f) => ({ ...f, geom: { ...f.geom, size } })));
  });
  style.addEventListener("text-align", (/** @type {any} */ e) => {
    tools.textAlign = e.detail;
    const texts = /** @type {NonNullable<ReturnType<typeof live.get>>[]} */ (
      tools.selected.map((id) => live.get(id)).filter((f) => f && f.kind === "text")
    );
    if (!texts.length || editor.readOnly) return;
    const aligned = texts.map((f) => {
      /** @type {Record<string, any>} */
      const geom = { ...f.geom, align: e.detail };
      if (e.detail === "left") delete geom.align;
      return { ...f, geom };
    });
    editor.replace("caption alignment", aligned);
  });
  style.addEventListener("settle", () => {
    if (!restyling) return;
    const { ids, style: patch } = restyling;
    restyling = null;
    renderer.overrides.clear();
    editor.restyle(ids, patch ?? {});
    sendPresence();
  });
  const showChip = () => ($("chip-swatch").style.background = style.color);
  style.addEventListener("change", showChip);
  tools.addEventListener("selection", showChip);
  showChip();

  function refreshUndo() {
    $("undo").disabled = !editor.undoStack.length || editor.readOnly;
    $("redo").disabled = !editor.redoStack.length || editor.readOnly;
    for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ (document.querySelectorAll("#selection-actions button"))) {
      b.disabled = editor.readOnly;
    }
  }
  editor.addEventListener("change", refreshUndo);
  refreshUndo();
  $("undo").addEventListener("click", () => editor.undo());
  $("redo").addEventListener("click", () => editor.redo());

  /** @type {Record<string, () => void>} */
  const actions = {
    front: () => editor.toFront(tools.selected),
    back: () => editor.toBack(tools.selected),
    duplicate: () => tools.select(editor.duplicate(tools.selected)),
    group: () => {
      if (group(editor, tools.selected)) toast("Grouped: a click selects the group, a double-click one of it");
      else toast("Select two or more fragments to group them");
    },
    ungroup: () => void ungroup(editor, tools.selected),
    delete: () => {
      editor.remove(tools.selected);
      tools.select([]);
    },
    respond: () => {
      tools.respondTo = tools.selected;
      toast("Your next fragment will respond to the selection (a thread)");
      tools.setTool("pen");
    },
  };
  for (const b of document.querySelectorAll("#selection-actions [data-action]")) {
    b.addEventListener("click", () => actions[/** @type {string} */ (/** @type {HTMLElement} */ (b).dataset.action)]());
  }

  const symbols = await symbolsLoading;
  renderer.setSymbols(symbols);
  const palette = buildPalette(symbols, (sym) => {
    tools.symbol = sym;
    if (tools.tool !== "symbol") tools.setTool("symbol");
    // On a phone the sheet makes way for the canvas, where the symbol goes.
    if (panels.phone) panels.close("symbols");
  });
  if (symbols.length) {
    tools.symbol = symbols[0].name;
    palette.get(symbols[0].name)?.classList.add("on");
  }

  // -- text captions ------------------------------------------------------------
  /** @type {{x: number, y: number, frag?: any} | null} */
  let editing = null;
  const textBox = $("text-editor");
  const textInput = /** @type {HTMLTextAreaElement} */ ($("text-input"));
  const fitText = () => {
    const lines = textInput.value.split("\n");
    textInput.rows = Math.max(1, lines.length);
    const width = Math.max(40, ...lines.map((l) => l.length * 0.62 * parseFloat(textInput.style.fontSize || "24") + 16));
    textInput.style.width = `${width}px`;
    // A centred or right-aligned caption grows from its anchor as it will be drawn.
    if (editing) {
      const align = editing.frag ? textAlign(editing.frag) : tools.textAlign;
      const [sx] = renderer.camera.toScreen(editing.x, editing.y);
      textBox.style.left = `${sx - width * (ALIGN_SHIFT[align] ?? 0)}px`;
      textInput.style.textAlign = align;
    }
  };
  tools.onTextRequest = (x, y, frag) => {
    const size = frag ? frag.geom.size : tools.textSize / renderer.camera.zoom;
    editing = { x, y, frag };
    const [sx, sy] = renderer.camera.toScreen(x, y);
    const px = size * renderer.camera.zoom;
    textBox.hidden = false;
    textBox.style.left = `${sx}px`;
    textBox.style.top = `${sy - px * 0.95}px`;
    textInput.style.fontSize = `${px}px`;
    textInput.style.fontFamily = "DejaVu Sans, Verdana, Arial, sans-serif";
    textInput.style.color = style.color;
    textInput.value = frag ? frag.geom.text : "";
    fitText();
    // Focus now, not later: keys typed right after the click must land in the caption.
    textInput.focus();
  };
  const finishText = (/** @type {boolean} */ keep) => {
    if (!editing) return;
    const e = editing;
    editing = null;
    textBox.hidden = true;
    const text = textInput.value.replace(/\s+$/, "");
    if (!keep) return;
    if (e.frag) {
      if (!text.trim()) editor.remove([e.frag.id]);
      else if (text !== e.frag.geom.text) editor.replace("edit text", [{ ...e.frag, geom: { ...e.frag.geom, text } }]);
    } else tools.commitText(e.x, e.y, text);
    canvas.focus();
  };
  textInput.addEventListener("input", fitText);
  textInput.addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => {
    e.stopPropagation();
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      finishText(true);
    } else if (e.key === "Escape") finishText(false);
  });
  textInput.addEventListener("blur", () => finishText(true));
  void LINE_HEIGHT;

  // -- view panel ---------------------------------------------------------------
  for (const b of document.querySelectorAll("#filter [data-filter]")) {
    b.addEventListener("click", () => {
      renderer.filter = /** @type {any} */ (/** @type {HTMLElement} */ (b).dataset.filter);
      for (const o of document.querySelectorAll("#filter [data-filter]")) o.classList.toggle("on", o === b);
      renderer.invalidate();
    });
  }
  $("threads").addEventListener("change", (/** @type {any} */ e) => {
    renderer.threads = e.target.checked;
    renderer.invalidate();
  });
  const zoomBy = (/** @type {number} */ f) => {
    renderer.camera.zoomAt(f, renderer.width / 2, renderer.height / 2);
    afterView();
  };
  const afterView = () => {
    showZoom();
    renderer.invalidate();
    sendPresence();
  };
  let viewSaver = /** @type {ReturnType<typeof setTimeout> | null} */ (null);
  const keepView = () => {
    if (viewSaver) clearTimeout(viewSaver);
    viewSaver = null;
    const c = renderer.camera;
    saveView(sanctuary, { x: c.x, y: c.y, zoom: c.zoom });
  };
  addEventListener("pagehide", keepView);
  /** The zoom label, whoever moved the camera (us, or someone we follow); the view is kept per sanctuary. */
  function showZoom() {
    $("zoom-reset").textContent = `${Math.round(renderer.camera.zoom * 100)}%`;
    if (!viewSaver) viewSaver = setTimeout(keepView, 500);
  }
  tools.addEventListener("view", showZoom);
  /** What covers the canvas: bars and open panels (zoom to fit keeps clear of them). */
  const covered = () => {
    const sel = ".topbar > *, #tools, #banner, #dock, #timeline, .panel";
    return [...document.querySelectorAll(sel)]
      .filter((el) => !(/** @type {HTMLElement} */ (el).hidden) && el.getClientRects().length)
      .map((el) => el.getBoundingClientRect());
  };
  const zoomToFit = () => {
    const r = replay ? replay.replica : live;
    const box = union([...r.entries.values()].filter((e) => e.box && renderer.visible(e.frag)).map((e) => /** @type {any} */ (e.box)));
    if (!box) return;
    const rect = canvas.getBoundingClientRect();
    const insets = insetsOf(covered().map((b) => ({ left: b.left - rect.left, top: b.top - rect.top, right: b.right - rect.left, bottom: b.bottom - rect.top })), renderer.width, renderer.height);
    Object.assign(renderer.camera, fitCamera(box, renderer.width, renderer.height, insets));
    afterView();
  };
  $("zoom-in").addEventListener("click", () => zoomBy(1.25));
  $("zoom-out").addEventListener("click", () => zoomBy(0.8));
  $("zoom-reset").addEventListener("click", () => {
    renderer.camera.zoomAt(1 / renderer.camera.zoom, renderer.width / 2, renderer.height / 2);
    afterView();
  });
  $("zoom-fit").addEventListener("click", zoomToFit);
  const showTheme = () => {
    const now = theme();
    renderer.turned = now === "light";
    renderer.invalidate();
    $("theme-label").textContent = now === "light" ? "Dark" : "Light";
    $("theme-button").title = now === "light" ? "Switch to the dark theme" : "Switch to the light theme";
    // Exports start on the background of the theme in use.
    $("export-background").value = now;
  };
  $("theme-button").addEventListener("click", toggleTheme);
  document.addEventListener("dreamloom:theme", showTheme);
  showTheme();
  const saved = loadView(sanctuary);
  if (saved) Object.assign(renderer.camera, saved);
  else renderer.camera.centreOn(0, 0, 1, renderer.width, renderer.height);
  showZoom();

  // -- export -------------------------------------------------------------------
  $("export-button").addEventListener("click", () => ($("export-menu").hidden = !$("export-menu").hidden));
  for (const b of document.querySelectorAll("#export-menu [data-export]")) {
    b.addEventListener("click", async () => {
      $("export-menu").hidden = true;
      const [kind, what] = /** @type {string} */ (/** @type {HTMLElement} */ (b).dataset.export).split("-");
      const w = /** @type {"view" | "all"} */ (what);
      const background = /** @type {any} */ ($("export-background").value);
      const scale = Number($("export-scale").value) || 1;
      try {
        if (kind === "png") download(await pngBlob(renderer, w, { background, scale }), `${sanctuary}-${what}.png`);
        else if (kind === "clip") {
          await copyPng(await pngBlob(renderer, w, { background, scale }));
          toast("Copied to the clipboard as a picture");
        } else download(await svgBlob(renderer, sanctuary, w, { threads: renderer.threads, at: replay ? replay.seq : null, background }), `${sanctuary}-${what}.svg`);
      } catch (err) {
        toast(`Export failed: ${err}`);
      }
    });
  }

  // -- history: replay and versions ------------------------------------------------
  /** @type {ReturnType<typeof setInterval> | null} */
  let playing = null;
  const scrub = /** @type {HTMLInputElement} */ ($("scrub"));
  const showPosition = () => {
    if (!replay) return;
    const n = replay.position;
    const e = n ? replay.entries[n - 1] : null;
    $("scrub-label").textContent = `${n} / ${replay.entries.length} ops${e ? ` · ${new Date(e.time * 1000).toLocaleString()}` : ""}`;
    scrub.value = String(n);
    showStatus();
    showDiversity();
    renderer.invalidate();
  };
  const stopPlay = () => {
    if (playing) clearInterval(playing);
    playing = null;
    $("play").textContent = "▶";
  };
  const refreshCheckpoints = async () => {
    if (!replay) return;
    const list = await replay.checkpoints();
    const sel = $("checkpoints");
    sel.textContent = "";
    const first = document.createElement("option");
    first.value = "";
    first.textContent = list.length ? "Saved versions" : "No saved versions";
    sel.append(first);
    for (const c of list) {
      const o = document.createElement("option");
      o.value = String(c.seq);
      o.textContent = `${c.name} (#${c.seq})`;
      sel.append(o);
    }
  };
  const openHistory = async () => {
    if (replay) return;
    const r = new Replay(sanctuary);
    try {
      await r.load();
    } catch (err) {
      toast(`History unavailable: ${err}`);
      return;
    }
    replay = r;
    showAccess();
    tools.select([]);
    tools.cancel();
    scrub.max = String(r.entries.length);
    r.seek(r.entries.length);
    $("timeline").hidden = false;
    document.body.classList.add("replaying");
    panels.closeSheets();
    showPosition();
    refreshCheckpoints();
  };
  const closeHistory = () => {
    stopPlay();
    replay = null;
    showAccess();
    $("timeline").hidden = true;
    document.body.classList.remove("replaying");
    showStatus();
    showDiversity();
    renderer.invalidate();
  };
  $("history-button").addEventListener("click", () => (replay ? closeHistory() : openHistory()));
  $("timeline-close").addEventListener("click", closeHistory);
  scrub.addEventListener("input", () => {
    stopPlay();
    replay?.seek(Number(scrub.value));
    showPosition();
  });
  $("play").addEventListener("click", () => {
    if (!replay) return;
    if (playing) return stopPlay();
    if (replay.position >= replay.entries.length) replay.seek(0);
    const step = Math.max(1, Math.ceil(replay.entries.length / 300)); // about ten seconds end to end
    $("play").textContent = "❚❚";
    playing = setInterval(() => {
      if (!replay) return stopPlay();
      replay.seek(replay.position + step);
      showPosition();
      if (replay.position >= replay.entries.length) stopPlay();
    }, 33);
  });
  $("checkpoints").addEventListener("change", (/** @type {any} */ e) => {
    if (!replay || e.target.value === "") return;
    stopPlay();
    replay.seek(replay.positionOf(Number(e.target.value)));
    showPosition();
  });
  $("save-checkpoint").addEventListener("click", async () => {
    const label = prompt("Name this version", `Version ${new Date().toLocaleString()}`);
    if (!label || !replay) return;
    try {
      await replay.saveCheckpoint(label.slice(0, 120), replay.seq);
      toast(`Saved “${label}”`);
      refreshCheckpoints();
    } catch (err) {
      toast(`Could not save: ${err}`);
    }
  });
  /** Record the timelapse and download it. @param {number} [seconds] */
  const timelapse = async (seconds = 10) => {
    if (!replay) await openHistory();
    if (!replay) return null;
    stopPlay();
    const button = $("timelapse");
    button.disabled = true;
    try {
      const blob = await recordTimelapse(replay, renderer, {
        seconds,
        onProgress: (done) => (button.textContent = `Recording ${Math.round(done * 100)}%`),
      });
      download(blob, `${sanctuary}-timelapse.${blob.type === "video/mp4" ? "mp4" : "webm"}`);
      return { type: blob.type, size: blob.size };
    } catch (err) {
      toast(`Timelapse failed: ${err}`);
      return null;
    } finally {
      button.disabled = false;
      button.textContent = "Timelapse";
      showPosition();
    }
  };
  $("timelapse").addEventListener("click", () => timelapse());
  $("restore-here").addEventListener("click", () => {
    if (!replay) return;
    const old = replay.replica.tapestry.copy();
    closeHistory();
    const n = editor.restoreVersion(old);
    toast(n ? `Restored that version with ${n} edit${n === 1 ? "" : "s"} (Ctrl+Z to undo)` : "That version is what you see already");
  });

  // -- copy and paste: Dreamloom JSON through the clipboard, with an SVG picture beside it ------
  /** @param {ClipboardEvent} e @param {boolean} cut */
  const onCopy = (e, cut) => {
    if (isTextField(/** @type {any} */ (document.activeElement)) || !e.clipboardData) return;
    const frags = live.ordered().filter((en) => renderer.selection.has(en.frag.id)).map((en) => en.frag);
    if (!frags.length) return;
    e.preventDefault();
    const json = encodePieces(frags);
    const svg = fragmentsSvg(frags, new Map([...renderer.glyphs].map(([k, v]) => [k, v.symbol])));
    e.clipboardData.setData(MIME, json);
    e.clipboardData.setData("text/plain", json);
    e.clipboardData.setData("image/svg+xml", svg);
    e.clipboardData.setData("text/html", svg);
    if (cut && !editor.readOnly) {
      editor.remove(frags.map((f) => f.id));
      tools.select([]);
    }
    toast(`${cut ? "Cut" : "Copied"} ${frags.length} fragment${frags.length === 1 ? "" : "s"}`);
  };
  document.addEventListener("copy", (e) => onCopy(e, false));
  document.addEventListener("cut", (e) => onCopy(e, true));
  document.addEventListener("paste", (e) => {
    if (isTextField(/** @type {any} */ (document.activeElement)) || !e.clipboardData || editor.readOnly) return;
    const text = e.clipboardData.getData(MIME) || e.clipboardData.getData("text/plain");
    if (!text) return;
    e.preventDefault();
    const c = renderer.camera;
    const [cx, cy] = tools.cursor ?? [c.x + renderer.width / 2 / c.zoom, c.y + renderer.height / 2 / c.zoom];
    const pieces = decodePieces(text);
    if (pieces === null) {
      // Plain text from elsewhere: a caption where the pointer is.
      tools.commitText(cx, cy, text.slice(0, 2000));
      return;
    }
    if (!pieces.length) return toast("Nothing in the clipboard could be pasted here");
    tools.setTool("select");
    tools.select(editor.paste(placePieces(pieces, cx, cy)));
  });

  // -- keyboard -----------------------------------------------------------------
  /** @type {Record<string, string>} */
  const toolKeys = { v: "select", h: "hand", p: "pen", b: "pen", r: "rect", o: "ellipse", l: "line", a: "arrow", s: "symbol", t: "text", e: "eraser" };
  addEventListener("keydown", (e) => {
    const target = /** @type {HTMLInputElement} */ (e.target);
    if (!isShortcut(target, e)) return;
    // A select would also take the letter as type-ahead.
    if (target?.tagName === "SELECT") e.preventDefault();
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key.toLowerCase();
    if (mod && key === "z") {
      e.preventDefault();
      if (e.shiftKey) editor.redo();
      else editor.undo();
      return;
    }
    if (mod && key === "y") {
      e.preventDefault();
      editor.redo();
      return;
    }
    if (mod && key === "d") {
      e.preventDefault();
      if (tools.selected.length && !editor.readOnly) actions.duplicate();
      return;
    }
    if (mod && key === "g") {
      e.preventDefault();
      if (tools.selected.length && !editor.readOnly) (e.shiftKey ? actions.ungroup : actions.group)();
      return;
    }
    if (mod && key === "a") {
      e.preventDefault();
      tools.setTool("select");
      tools.select(live.ordered().filter((en) => renderer.visible(en.frag)).map((en) => en.frag.id));
      return;
    }
    if (mod) return;
    if (e.key === " ") {
      tools.space = true;
      canvas.style.cursor = "grab";
      e.preventDefault();
      return;
    }
    if (e.key === "?") {
      $("help").hidden = !$("help").hidden;
      return;
    }
    if (e.key === "Escape") {
      $("help").hidden = true;
      $("export-menu").hidden = true;
      if (replay) closeHistory();
      if (following) follow(null);
      panels.closeSheets();
      for (const id of ["people-panel"]) panels.close(id);
      tools.cancel();
      tools.select([]);
      return;
    }
    if ((e.key === "Delete" || e.key === "Backspace") && tools.selected.length && !editor.readOnly) {
      e.preventDefault();
      actions.delete();
      return;
    }
    if (e.key === "]" && tools.selected.length) return actions.front();
    if (e.key === "[" && tools.selected.length) return actions.back();
    if (e.key === "+" || e.key === "=") return zoomBy(1.25);
    if (e.key === "-" || e.key === "_") return zoomBy(0.8);
    if (e.key === "0") {
      renderer.camera.zoomAt(1 / renderer.camera.zoom, renderer.width / 2, renderer.height / 2);
      afterView();
      return;
    }
    if (e.key === "!" || (e.shiftKey && e.code === "Digit1")) return zoomToFit();
    if (key === "y") return replay ? closeHistory() : void openHistory();
    if (e.key.startsWith("Arrow") && tools.selected.length && !editor.readOnly) {
      e.preventDefault();
      const d = e.shiftKey ? 10 : 1;
      const dx = e.key === "ArrowLeft" ? -d : e.key === "ArrowRight" ? d : 0;
      const dy = e.key === "ArrowUp" ? -d : e.key === "ArrowDown" ? d : 0;
      editor.move(tools.selected, dx, dy);
      return;
    }
    if (toolKeys[key] && !e.altKey) tools.setTool(/** @type {any} */ (toolKeys[key]));
  });
  addEventListener("keyup", (e) => {
    if (e.key === " ") {
      tools.space = false;
      tools.setToolCursor();
    }
  });
  $("help-button").addEventListener("click", () => ($("help").hidden = false));
  $("help-close").addEventListener("click", () => ($("help").hidden = true));
  $("help").addEventListener("click", (/** @type {MouseEvent} */ e) => {
    if (e.target === $("help")) $("help").hidden = true;
  });

  live.listeners.add(() => {
    // Drop selected fragments that someone deleted.
    const sel = tools.selected;
    if (sel.length !== renderer.selection.size) tools.select(sel);
  });

  // -- debug hook ---------------------------------------------------------------
  const hook = {
    get seq() {
      return sync.seq;
    },
    get connected() {
      return sync.status === "live";
    },
    get status() {
      return sync.status;
    },
    get pendingCount() {
      return sync.pending.length;
    },
    get fragmentCount() {
      return live.entries.size;
    },
    get replica() {
      return sync.replica;
    },
    get identity() {
      return sync.identity;
    },
    get peers() {
      return [...sync.peers.values()].map((p) => ({ ...p }));
    },
    get selection() {
      return tools.selected;
    },
    get tool() {
      return tools.tool;
    },
    get following() {
      return following;
    },
    get colour() {
      return colour;
    },
    get readOnly() {
      return editor.readOnly;
    },
    get replaying() {
      return replay !== null;
    },
    get replayFragmentCount() {
      return replay ? replay.replica.entries.size : null;
    },
    get drawn() {
      return renderer.drawn;
    },
    get frames() {
      return renderer.frames;
    },
    get lastFrameMs() {
      return renderer.lastFrameMs;
    },
    canonicalHex: () => toHex(live.tapestry.encode()),
    digest: () => sha256Hex(live.tapestry.encode()),
    liveCounts: () => ({ ...live.tapestry.liveCounts }),
    /** @param {string} id */
    fragment: (id) => live.tapestry.get(id),
    /** The fragment as drawn now: with a gesture in progress (ours or someone else's). @param {string} id */
    shown: (id) => {
      const e = live.entries.get(id);
      return (e && previewed(live, e, renderer.overrides, renderer.remote)) ?? renderer.overrides.get(id) ?? renderer.remote.get(id) ?? live.get(id);
    },
    ids: () => live.ordered().map((e) => e.frag.id),
    camera: () => ({ x: renderer.camera.x, y: renderer.camera.y, zoom: renderer.camera.zoom }),
    /** World point -> page (client) coordinates, for driving the pointer. @param {number} x @param {number} y */
    toClient: (x, y) => {
      const r = canvas.getBoundingClientRect();
      const [sx, sy] = renderer.camera.toScreen(x, y);
      return [sx + r.left, sy + r.top];
    },
    zoomToFit,
    /**
     * Pan `dx` screen pixels per frame for `n` frames (a benchmark): resolves with
     * the draw time of each frame and the intervals between frames, in ms.
     * @param {number} n @param {number} dx
     */
    pan: (n, dx) =>
      new Promise((resolve) => {
        /** @type {number[]} */
        const draw = [];
        /** @type {number[]} */
        const gaps = [];
        let last = performance.now();
        let i = 0;
        const step = () => {
          const now = performance.now();
          if (i > 0) {
            gaps.push(now - last);
            draw.push(renderer.lastFrameMs);
          }
          last = now;
          if (i++ >= n) return resolve({ draw, gaps });
          // Circle around the start, so the view stays over the tapestry.
          renderer.camera.x += (dx * Math.cos(i / 30)) / renderer.camera.zoom;
          renderer.camera.y += (dx * Math.sin(i / 30)) / renderer.camera.zoom;
          renderer.invalidate();
          requestAnimationFrame(step);
        };
        requestAnimationFrame(step);
      }),
    undo: () => editor.undo(),
    redo: () => editor.redo(),
    /** @param {number} [seconds] */
    timelapse: (seconds) => timelapse(seconds),
    openHistory,
    closeHistory,
    /** @param {number} n */
    seek: (n) => {
      replay?.seek(n);
      showPosition();
    },
  };
  Object.defineProperty(window, "dreamloom", { value: Object.freeze(hook), configurable: false });
}

// The offline shell (sw.js) lets a reload without network open the page again.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/static/sw.js", { scope: "/" }).catch((err) => {
    console.info("offline reload unavailable:", String(err));
  });
}

main().catch((err) => {
  console.error(err);
  toast(`Something went wrong: ${err}`);
});

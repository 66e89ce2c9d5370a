// The view: wheel zoom steps and "zoom to fit" clear of the panels.
import assert from "node:assert/strict";
import { test } from "node:test";

import { fitCamera, insetsOf, wheelZoomFactor } from "../app/view.js";

test("a wheel notch zooms about 15%, a trackpad pinch a little, a huge event one notch at most", () => {
  const notch = wheelZoomFactor(-100);
  assert.ok(notch > 1.1 && notch < 1.2, String(notch));
  assert.ok(Math.abs(wheelZoomFactor(100) * notch - 1) < 1e-12, "out and in are symmetric");
  const pinch = wheelZoomFactor(-3);
  assert.ok(pinch > 1 && pinch < 1.01);
  assert.equal(wheelZoomFactor(-5000), wheelZoomFactor(-120));
  assert.equal(wheelZoomFactor(-3, 1), wheelZoomFactor(-48));
  // Twenty notches in: less than 20x, never the 2009% of one event.
  assert.ok(wheelZoomFactor(-100) ** 20 < 20);
});

test("insets: bars count against the top and bottom, side panels against their side", () => {
  const w = 1400;
  const h = 900;
  const rects = [
    { left: 8, top: 8, right: 1392, bottom: 44 }, // top bar
    { left: 450, top: 56, right: 950, bottom: 100 }, // toolbar
    { left: 8, top: 104, right: 244, bottom: 400 }, // style panel
    { left: 800, top: 840, right: 1392, bottom: 892 }, // view bar
    { left: 0, top: 0, right: 0, bottom: 0 }, // hidden
  ];
  assert.deepEqual(insetsOf(rects, w, h), { top: 100, right: 0, bottom: 60, left: 244 });
});

test("fit: the box fills the free part of the screen, centred in it", () => {
  const insets = { top: 100, right: 0, bottom: 60, left: 244 };
  const cam = fitCamera({ x0: 0, y0: 0, x1: 1000, y1: 500 }, 1400, 900, insets, { margin: 0 });
  const toScreen = (/** @type {number} */ x, /** @type {number} */ y) => [(x - cam.x) * cam.zoom, (y - cam.y) * cam.zoom];
  const [l, t] = toScreen(0, 0);
  const [r, b] = toScreen(1000, 500);
  assert.ok(l >= 244 - 1e-9 && r <= 1400 + 1e-9 && t >= 100 - 1e-9 && b <= 840 + 1e-9, JSON.stringify({ l, t, r, b }));
  assert.ok(Math.abs(r - l - 1156) < 1e-6 || Math.abs(b - t - 740) < 1e-6, "as large as fits");
  assert.ok(Math.abs((l + r) / 2 - (244 + 1400) / 2) < 1e-6);
  assert.ok(Math.abs((t + b) / 2 - (100 + 840) / 2) < 1e-6);
  assert.equal(fitCamera({ x0: 0, y0: 0, x1: 1, y1: 1 }, 1400, 900, insets).zoom, 4, "a speck is not blown up past 400%");
});

test("the light theme turns colours over as invert(1) hue-rotate(180deg) does", async () => {
  const { turnOver } = await import("../app/theme.js");
  assert.equal(turnOver("#000000"), "#ffffff");
  assert.equal(turnOver("#ffffff"), "#000000");
  const bg = turnOver("#0f1020");
  assert.ok(parseInt(bg.slice(1, 3), 16) > 220 && parseInt(bg.slice(5, 7), 16) > 200, bg);
  assert.equal(turnOver("#9ad0ff80").slice(7), "80", "alpha kept");
  assert.equal(turnOver("none"), "none");
  // A blue stays blue (hue kept), only darker.
  const blue = turnOver("#9ad0ff");
  assert.ok(parseInt(blue.slice(5, 7), 16) > parseInt(blue.slice(1, 3), 16), blue);
});

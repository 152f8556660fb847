// Guards against an action landing where the officer did not mean it: a confirmation that
// names the person or the count, an undo window for the actions that can wait a few seconds
// before they reach the hub, and slots that refuse clicks just after what they show changed
// (a re-sorted queue, a banner now showing another SOS).

import { h } from "./format.js";

/** A click this soon after a slot started showing another item is taken as meant for the
 *  item that was there before, and ignored. */
export const SETTLE_MS = 800;

/** How long an undoable action waits before it is sent. */
export const UNDO_MS = 6000;

/** Which item each slot of the page shows, and since when. */
const slots = new Map();

/** Records that `slot` (a place on the page: "banner", "sos-0" …) shows item `id` now. */
export function place(slot, id) {
  const shown = slots.get(slot);
  if (!shown || shown.id !== id) slots.set(slot, { id, since: performance.now() });
}

/** Whether `slot` has shown `id` long enough for a click on it to be meant for it. */
export function settled(slot, id) {
  const shown = slots.get(slot);
  return !!shown && shown.id === id && performance.now() - shown.since >= SETTLE_MS;
}

/** The alert's drill marking: "EXERCISE", "TEST", or null for a real alert. */
export function drill(alert) {
  return alert && alert.status && alert.status !== "actual" ? alert.status.toUpperCase() : null;
}

let dialog = null;

/**
 * Asks before a consequential action. `title` names the person or the count ("Resolve
 * Olivier's SOS?"); `facts` are [label, value] pairs; `warnings` are shown in warning colours;
 * `drill` marks an exercise. Resolves to true only on the confirming button; Esc, the other
 * button and Enter in a field all say no.
 */
export function confirmAction({ title, facts = [], warnings = [], confirm, danger = false, drill: mark = null, names = null }) {
  if (!dialog) {
    dialog = h("dialog", { id: "confirm", class: "confirm", "aria-labelledby": "confirm-title" });
    document.body.append(dialog);
  }
  return new Promise((resolve) => {
    const finish = (answer) => {
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const yes = h("button", { type: "button", id: "confirm-yes", class: danger ? "danger" : "primary", onclick: () => finish(true) }, confirm);
    const no = h("button", { type: "button", id: "confirm-no", class: "ghost", onclick: () => finish(false) }, "Go back");
    dialog.replaceChildren(...[
      mark ? h("p", { class: "drill-banner" }, `${mark} — not a real alert`) : null,
      h("h2", { id: "confirm-title" }, title),
      facts.length ? h("dl", { class: "facts review-facts" }, facts.filter(Boolean).map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))) : null,
      names && names.length ? h("p", { class: "review-names" }, h("span", { class: "muted" }, "Among them: "), h("span", { class: "names" }, names.join(", "))) : null,
      warnings.length ? h("ul", { class: "review-warnings", role: "alert" }, warnings.map((w) => h("li", {}, w))) : null,
      h("div", { class: "actions" }, yes, no)].filter(Boolean));
    dialog.onclose = () => finish(false);
    dialog.showModal();
    // The safe choice has the focus: Enter or a stray key press does nothing harmful.
    no.focus();
  });
}

/** Actions waiting out their undo window, so a closing page still sends them. */
const waiting = new Set();

/**
 * Shows `message` with an Undo button for UNDO_MS, then runs `run`. Resolves to true once run
 * succeeded, false when undone; rejects with run's error.
 */
export function afterUndoWindow(message, run) {
  let bar = document.getElementById("undo-bar");
  if (!bar) {
    bar = h("div", { id: "undo-bar", class: "undo-bar", role: "status", "aria-live": "polite" });
    document.body.append(bar);
  }
  return new Promise((resolve, reject) => {
    const entry = { go: null };
    const item = h("div", { class: "undo-item" });
    const end = () => {
      waiting.delete(entry);
      item.remove();
    };
    const timer = setTimeout(() => entry.go(), UNDO_MS);
    entry.go = () => {
      clearTimeout(timer);
      end();
      run().then(() => resolve(true), reject);
    };
    const undo = h("button", { type: "button", class: "undo", onclick: () => {
      clearTimeout(timer);
      end();
      resolve(false);
    } }, "Undo");
    item.append(h("span", {}, message), undo);
    bar.append(item);
    waiting.add(entry);
  });
}

// The page is closing: what the officer decided still goes out.
window.addEventListener("pagehide", () => {
  for (const entry of [...waiting]) entry.go();
});

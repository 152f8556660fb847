// SOS calls: the queue (open first, then acknowledged), acknowledging and resolving with notes,
// each action bound to the SOS it was shown for (a resolution confirmed by name, with an undo
// window), and the alarm: while any SOS is open, a banner lies over the top of the map and a
// tone sounds until someone acknowledges it.

import { h, say, timeEl, telLink, ago } from "./format.js";
import { keepValues } from "./alerts.js";
import { confirmAction, afterUndoWindow, place as placeSlot, settled } from "./guard.js";

/** A two-tone alarm from WebAudio (nothing to download); repeats while it is on.
 *
 *  Browsers keep a page silent until someone has clicked or typed in it. A wall screen that
 *  reloads by itself has had no such gesture, so the header shows a button asking for one
 *  until sound is allowed; any click or key press anywhere allows it too. */
class Alarm {
  constructor(soundButton) {
    this.timer = null;
    this.audio = null;
    this.button = soundButton;
    const unlock = () => this.unlock();
    for (const kind of ["pointerdown", "keydown"]) document.addEventListener(kind, unlock, true);
    soundButton.addEventListener("click", unlock);
    this.unlock();
  }

  /** Creates or resumes the audio context; shows the button while sound is not allowed. */
  unlock() {
    try {
      this.audio = this.audio || new AudioContext();
      if (this.audio.state === "suspended") {
        this.audio.resume().then(() => this.showState(), () => this.showState());
      }
    } catch {
      // No audio at all (a screen without a sound device): the banner alone has to do.
      this.audio = null;
    }
    this.showState();
  }

  showState() {
    this.button.hidden = !this.audio || this.audio.state === "running";
  }

  beep() {
    if (!this.audio || this.audio.state !== "running") return;
    const now = this.audio.currentTime;
    for (const [offset, freq] of [[0, 880], [0.25, 660], [0.5, 880], [0.75, 660]]) {
      const osc = this.audio.createOscillator();
      const gain = this.audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.3, now + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.22);
      osc.connect(gain).connect(this.audio.destination);
      osc.start(now + offset);
      osc.stop(now + offset + 0.24);
    }
  }

  start() {
    if (this.timer) return;
    this.beep();
    this.timer = setInterval(() => this.beep(), 2500);
    document.body.dataset.alarm = "ringing";
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    delete document.body.dataset.alarm;
  }
}

export function sosPanel(ctx, root, banner, soundButton) {
  const { state } = ctx;
  const alarm = new Alarm(soundButton);
  // SOS calls with a request under way, so a second click sends nothing more.
  const busy = new Set();
  // SOS calls whose resolution waits out its undo window.
  const resolving = new Set();

  function place(sos) {
    return sos.position || (sos.trail.length ? sos.trail[sos.trail.length - 1] : null);
  }

  /** Acts on the SOS `id` only if it still stands as it did when the button was drawn. */
  async function act(id, shownStatus, action, note, message) {
    const sos = state.sos.get(id);
    if (!sos || sos.status !== shownStatus || busy.has(id)) return;
    busy.add(id);
    try {
      const body = action === "resolve" ? { note } : note ? { note } : undefined;
      const updated = await ctx.call("POST", `/api/v1/sos/${id}/${action}`, body, { keepalive: action === "resolve" });
      if (updated.status === "resolved") state.sos.delete(updated.id);
      else state.sos.set(updated.id, updated);
      // The note was about this SOS and this step: it goes with it.
      forgetNote(id);
      ctx.toast(action === "ack" ? `SOS of ${sos.name} acknowledged.` : `SOS of ${sos.name} resolved.`);
      ctx.changed("sos");
    } catch (e) {
      say(message, e.message);
    } finally {
      busy.delete(id);
    }
  }

  function forgetNote(id) {
    const field = root.querySelector(`[data-keep="note-${id}"]`);
    if (field) field.value = "";
  }

  async function resolve(sos, note, message) {
    const ok = await confirmAction({
      title: `Resolve ${sos.name}'s SOS?`,
      facts: [["Raised", new Date(sos.raised_at).toISOString().slice(0, 16).replace("T", " ") + " UTC"],
        sos.acknowledged_by ? ["Acknowledged by", sos.acknowledged_by] : null,
        ["What happened", note]],
      warnings: [`${sos.name}'s phone is told the SOS is resolved.`],
      confirm: `Resolve ${sos.name}'s SOS`,
    });
    if (!ok || !state.sos.has(sos.id)) return;
    resolving.add(sos.id);
    ctx.changed("sos");
    const sent = afterUndoWindow(`Resolving ${sos.name}'s SOS…`, () => act(sos.id, sos.status, "resolve", note, message));
    sent.finally(() => {
      resolving.delete(sos.id);
      ctx.changed("sos");
    });
  }

  /** A click on a slot that just started showing this SOS is not acted on. */
  function steady(slot, sos, message, then) {
    return () => {
      if (!settled(slot, sos.id)) {
        say(message, "The queue just changed under the pointer: check whose SOS this is, then click again.");
        return;
      }
      then();
    };
  }

  function card(sos, index) {
    const slot = `sos-${index}`;
    placeSlot(slot, sos.id);
    const where = place(sos);
    const country = sos.countries[0];
    const message = h("p", { class: "message", role: "alert" });
    const note = h("input", { "data-keep": `note-${sos.id}`, id: `note-${sos.id}`,
      placeholder: sos.status === "open" ? "Note (optional)" : "What happened (required to resolve)",
      "aria-label": `Note on the SOS of ${sos.name}` });
    const selected = state.selected && state.selected.kind === "sos" && state.selected.id === sos.id;
    const pending = resolving.has(sos.id);
    return h("li", { class: `card sos-card ${sos.status}${selected ? " selected" : ""}`, "data-sos": sos.id },
      h("div", { class: "card-head" },
        h("span", { class: `pill ${sos.status}` }, sos.status),
        h("strong", { class: "headline" }, sos.name), h("span", { class: "muted" }, sos.username), telLink(sos.phone, sos.name)),
      sos.note ? h("p", { class: "text" }, `“${sos.note}”`) : null,
      h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, "Raised"), h("dd", {}, timeEl(sos.raised_at, country, where, sos.time_zone), h("span", { class: "ago" }, ago(sos.raised_at)))),
        h("div", {}, h("dt", {}, "Where"), h("dd", {}, where ? `${where.lat.toFixed(4)}, ${where.lon.toFixed(4)}` : "no position",
          sos.countries.length ? ` · ${sos.countries.join(", ")}` : "", sos.trail.length ? ` · trail of ${sos.trail.length}` : "")),
        sos.acknowledged_by ? h("div", {}, h("dt", {}, "Acknowledged"), h("dd", {}, `by ${sos.acknowledged_by} `,
          timeEl(sos.acknowledged_at, country, where, sos.time_zone), sos.acknowledge_note ? ` — ${sos.acknowledge_note}` : "")) : null,
        sos.announcements > 1 ? h("div", {}, h("dt", {}, "Announced"), h("dd", {}, `${sos.announcements} times`)) : null),
      h("div", { class: "actions" },
        note,
        pending ? h("span", { class: "muted" }, "Resolving — undo at the bottom of the screen.") : sos.status === "open"
          ? h("button", { type: "button", class: "danger", "data-action": "ack",
            onclick: steady(slot, sos, message, () => act(sos.id, "open", "ack", note.value.trim(), message)) }, "Acknowledge")
          : h("button", { type: "button", class: "primary", "data-action": "resolve", onclick: steady(slot, sos, message, () => {
            if (!note.value.trim()) {
              say(message, "Write what happened before resolving.");
              note.focus();
              return;
            }
            resolve(sos, note.value.trim(), message);
          }) }, "Resolve…"),
        where ? h("button", { type: "button", class: "ghost", onclick: () => ctx.select("sos", sos.id) }, "Map") : null),
      message);
  }

  function renderBanner(open) {
    banner.hidden = open.length === 0;
    if (!open.length) {
      banner.replaceChildren();
      delete banner.dataset.sos;
      return;
    }
    const first = open[0];
    placeSlot("banner", first.id);
    const where = place(first);
    // While the banner shows the same SOS, what it told the officer stays: the next event
    // re-renders it at once, often right after a refused click.
    const told = banner.dataset.sos === first.id && banner.querySelector(".message");
    banner.dataset.sos = first.id;
    const failed = told || h("span", { class: "message", role: "alert" });
    banner.replaceChildren(...[
      h("span", { class: "sos-flag" }, "SOS"),
      h("span", { class: "sos-who" }, h("strong", {}, first.name), first.phone ? [" ", telLink(first.phone, first.name)] : null,
        first.note ? ` — “${first.note}”` : "",
        h("span", { class: "sos-when" }, " · raised ", timeEl(first.raised_at, first.countries[0], where, first.time_zone), ` (${ago(first.raised_at)})`,
          first.countries.length ? ` · ${first.countries.join(", ")}` : "")),
      open.length > 1 ? h("span", { class: "sos-more" }, `+${open.length - 1} more open`) : null,
      h("button", { type: "button", class: "ghost on-red", onclick: () => ctx.select("sos", first.id) }, "Show"),
      h("button", { type: "button", class: "ack", id: "banner-ack", "data-sos": first.id,
        onclick: steady("banner", first, failed, () => act(first.id, "open", "ack", "", failed)) }, "Acknowledge"),
      failed].filter(Boolean));
  }

  return {
    render() {
      const all = [...state.sos.values()].sort((a, b) =>
        (a.status === "open" ? 0 : 1) - (b.status === "open" ? 0 : 1) || Date.parse(a.raised_at) - Date.parse(b.raised_at));
      const open = all.filter((s) => s.status === "open");
      renderBanner(open);
      if (open.length) alarm.start();
      else alarm.stop();
      document.body.classList.toggle("sos-open", open.length > 0);
      keepValues(root, () => root.replaceChildren(
        h("h2", { class: "panel-title" }, "SOS calls"),
        all.length ? h("ul", { class: "cards", id: "sos-list" }, all.map(card)) : h("p", { class: "empty" }, "No SOS call is open.")));
    },
    silence() {
      alarm.stop();
    },
  };
}

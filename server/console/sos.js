// SOS calls: the queue (open first, then acknowledged), acknowledging and resolving with notes,
// and the alarm: while any SOS is open, a banner holds the top of the screen and a tone sounds
// until someone acknowledges it.

import { h, say, timeEl, telLink, ago } from "./format.js";
import { keepValues } from "./alerts.js";

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

  function place(sos) {
    return sos.position || (sos.trail.length ? sos.trail[sos.trail.length - 1] : null);
  }

  async function act(sos, action, note, message) {
    try {
      const body = action === "resolve" ? { note } : note ? { note } : undefined;
      const updated = await ctx.call("POST", `/api/v1/sos/${sos.id}/${action}`, body);
      if (updated.status === "resolved") state.sos.delete(updated.id);
      else state.sos.set(updated.id, updated);
      ctx.toast(action === "ack" ? `SOS of ${sos.name} acknowledged.` : `SOS of ${sos.name} resolved.`);
      ctx.changed("sos");
    } catch (e) {
      say(message, e.message);
    }
  }

  function card(sos) {
    const where = place(sos);
    const country = sos.countries[0];
    const message = h("p", { class: "message", role: "alert" });
    const note = h("input", { "data-keep": `note-${sos.id}`, id: `note-${sos.id}`,
      placeholder: sos.status === "open" ? "Note (optional)" : "What happened (required to resolve)",
      "aria-label": `Note on the SOS of ${sos.name}` });
    const selected = state.selected && state.selected.kind === "sos" && state.selected.id === sos.id;
    return h("li", { class: `card sos-card ${sos.status}${selected ? " selected" : ""}`, "data-sos": sos.id },
      h("div", { class: "card-head" },
        h("span", { class: `pill ${sos.status}` }, sos.status),
        h("strong", { class: "headline" }, sos.name), h("span", { class: "muted" }, sos.username), telLink(sos.phone, sos.name)),
      sos.note ? h("p", { class: "text" }, `“${sos.note}”`) : null,
      h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, "Raised"), h("dd", {}, timeEl(sos.raised_at, country, where), h("span", { class: "ago" }, ago(sos.raised_at)))),
        h("div", {}, h("dt", {}, "Where"), h("dd", {}, where ? `${where.lat.toFixed(4)}, ${where.lon.toFixed(4)}` : "no position",
          sos.countries.length ? ` · ${sos.countries.join(", ")}` : "", sos.trail.length ? ` · trail of ${sos.trail.length}` : "")),
        sos.acknowledged_by ? h("div", {}, h("dt", {}, "Acknowledged"), h("dd", {}, `by ${sos.acknowledged_by} `,
          timeEl(sos.acknowledged_at, country, where), sos.acknowledge_note ? ` — ${sos.acknowledge_note}` : "")) : null,
        sos.announcements > 1 ? h("div", {}, h("dt", {}, "Announced"), h("dd", {}, `${sos.announcements} times`)) : null),
      h("div", { class: "actions" },
        note,
        sos.status === "open"
          ? h("button", { type: "button", class: "danger", onclick: () => act(sos, "ack", note.value.trim(), message) }, "Acknowledge")
          : h("button", { type: "button", class: "primary", onclick: () => {
            if (!note.value.trim()) {
              say(message, "Write what happened before resolving.");
              note.focus();
              return;
            }
            act(sos, "resolve", note.value.trim(), message);
          } }, "Resolve"),
        where ? h("button", { type: "button", class: "ghost", onclick: () => ctx.select("sos", sos.id) }, "Map") : null),
      message);
  }

  function renderBanner(open) {
    banner.hidden = open.length === 0;
    if (!open.length) {
      banner.replaceChildren();
      return;
    }
    const first = open[0];
    const where = place(first);
    const failed = h("span", { class: "message", role: "alert" });
    banner.replaceChildren(...[
      h("span", { class: "sos-flag" }, "SOS"),
      h("span", { class: "sos-who" }, h("strong", {}, first.name), first.phone ? [" ", telLink(first.phone, first.name)] : null,
        first.note ? ` — “${first.note}”` : "",
        h("span", { class: "sos-when" }, " · raised ", timeEl(first.raised_at, first.countries[0], where), ` (${ago(first.raised_at)})`,
          first.countries.length ? ` · ${first.countries.join(", ")}` : "")),
      open.length > 1 ? h("span", { class: "sos-more" }, `+${open.length - 1} more open`) : null,
      h("button", { type: "button", class: "ghost on-red", onclick: () => ctx.select("sos", first.id) }, "Show"),
      h("button", { type: "button", class: "ack", id: "banner-ack", onclick: () => act(first, "ack", "", failed) }, "Acknowledge"),
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

// Place search: a text field that lists the gazetteer's matches as the officer types; Enter or
// a click on a match hands that place to `onChoose` (the map goes there, the composer centres
// a circle on it). Arrow keys move through the matches.

import { loadPlaces } from "./places.js";
import { h } from "./format.js";

/** Wires `input` and the list `results` to the gazetteer. Enter is handled here, so the field
 *  may sit in a form whose own submit means something else (the composer's). */
export function placeSearch(input, results, onChoose) {
  let found = [];
  let active = 0;
  const show = () => {
    results.hidden = found.length === 0;
    results.replaceChildren(...found.map((p, i) => h("li", {
      role: "option", id: `${results.id}-${i}`, "data-index": i, "aria-selected": String(i === active),
    }, p.name, " ", h("span", { class: "muted" }, `${p.country} · ${p.population.toLocaleString("en")}`))));
    input.setAttribute("aria-activedescendant", found.length ? `${results.id}-${active}` : "");
  };
  const choose = (place) => {
    if (!place) return;
    found = [];
    show();
    input.value = place.name;
    onChoose(place);
  };
  input.addEventListener("input", async () => {
    const query = input.value;
    const places = await loadPlaces();
    if (query !== input.value) return;
    found = places.search(query);
    active = 0;
    show();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!found.length) return;
      active = (active + (event.key === "ArrowDown" ? 1 : found.length - 1)) % found.length;
      show();
    } else if (event.key === "Escape") {
      found = [];
      show();
    } else if (event.key === "Enter") {
      event.preventDefault();
      goToFound();
    }
  });
  async function goToFound() {
    const query = input.value;
    if (!found.length && query.trim()) found = (await loadPlaces()).search(query);
    choose(found[active] || found[0]);
  }
  results.addEventListener("pointerdown", (event) => {
    const item = event.target.closest("[data-index]");
    if (!item) return;
    event.preventDefault();
    choose(found[Number(item.dataset.index)]);
  });
}

// The administrators' page: every account, and what an administrator does to one — disable
// (after a confirmation naming the person) or enable it, set its password, change its role and
// countries, see and end its sessions — and the audit trail of those changes. The hub ends the
// sessions a change ends; this page only asks and shows.

import { h, say, timeEl, telLink, label } from "./format.js";

const ROLES = ["staff", "security_officer", "watch_officer", "admin"];

export function accountsPage(ctx, root) {
  const { call, toast } = ctx;
  /** The account whose tools are open, and which tool: "disable", "password", "role", "sessions". */
  let open = null;
  let accounts = [];

  const list = h("div", { class: "accounts-list" });
  const audit = h("ol", { class: "account-audit", id: "account-audit" });
  root.replaceChildren(
    h("div", { class: "panel-head" }, h("h2", { class: "panel-title" }, "Accounts"),
      h("button", { type: "button", class: "ghost small", id: "accounts-reload", onclick: () => reload() }, "Reload")),
    list,
    h("h3", {}, "Recent account changes"),
    audit);

  async function reload() {
    try {
      const [users, entries] = await Promise.all([
        call("GET", "/api/v1/users"),
        call("GET", "/api/v1/audit?limit=20"),
      ]);
      accounts = users;
      renderAudit(entries);
      render();
    } catch (e) {
      toast(`Could not load the accounts: ${e.message}`, "error");
    }
  }

  function renderAudit(entries) {
    audit.replaceChildren(...entries.map((e) => h("li", {},
      timeEl(e.at), " ", h("b", {}, e.actor), ` ${label(e.action)} `, (e.detail && e.detail.username) || "")));
  }

  function render() {
    list.replaceChildren(h("table", { class: "accounts" },
      h("thead", {}, h("tr", {}, ["Username", "Name", "Role", "Countries", "Phones", "Status", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, accounts.flatMap((a) => [row(a), open && open.id === a.id ? tools(a) : null]))));
  }

  function row(a) {
    const toggle = (tool) => () => { open = open && open.id === a.id && open.tool === tool ? null : { id: a.id, tool }; render(); };
    const me = ctx.state.me && ctx.state.me.id === a.id;
    return h("tr", { class: a.disabled ? "disabled" : "", dataset: { username: a.username } },
      h("td", {}, a.username), h("td", {}, a.name), h("td", {}, label(a.role)),
      h("td", {}, a.countries.join(", ")),
      h("td", { class: "phones" }, ...(a.phones || []).map((number) => telLink(number, a.name))),
      h("td", {}, a.disabled ? "Disabled" : "Enabled"),
      h("td", { class: "actions" },
        a.disabled
          ? h("button", { type: "button", class: "small", onclick: () => enable(a) }, "Enable")
          : h("button", { type: "button", class: "warn small", disabled: me, onclick: toggle("disable") }, "Disable"),
        h("button", { type: "button", class: "ghost small", onclick: toggle("password") }, "Reset password"),
        h("button", { type: "button", class: "ghost small", onclick: toggle("role") }, "Role"),
        h("button", { type: "button", class: "ghost small", onclick: toggle("phones") }, "Phones"),
        h("button", { type: "button", class: "ghost small", onclick: toggle("sessions") }, "Sessions")));
  }

  function tools(a) {
    const message = h("p", { class: "message", role: "alert" });
    const close = h("button", { type: "button", class: "ghost small", onclick: () => { open = null; render(); } }, "Cancel");
    const cell = (...content) => h("tr", { class: "account-tools" }, h("td", { colspan: 7 }, ...content, message));
    const act = async (work, done) => {
      say(message, "");
      try {
        await work();
        open = null;
        toast(done);
        await reload();
      } catch (e) {
        say(message, e.field ? `${label(e.field)}: ${e.message}` : e.message);
      }
    };
    if (open.tool === "disable") {
      return cell(h("div", { role: "alertdialog", class: "confirm", "aria-label": `Disable ${a.username}` },
        h("p", {}, `Disable ${a.name} (${a.username})? They are logged out everywhere at once, and cannot log in until enabled again.`),
        h("button", { type: "button", class: "warn", id: "confirm-disable",
          onclick: () => act(() => call("POST", `/api/v1/users/${a.id}/disable`), `${a.username} is disabled`) },
        `Disable ${a.username}`), close));
    }
    if (open.tool === "password") {
      const password = h("input", { type: "password", id: "reset-password", autocomplete: "new-password", minlength: 10 });
      return cell(h("form", { class: "inline", onsubmit: (event) => {
        event.preventDefault();
        act(() => call("POST", `/api/v1/users/${a.id}/password`, { password: password.value }),
          `${a.username}'s password is set; their sessions ended`);
      } }, h("label", {}, `New password for ${a.username} `, password),
      h("button", { type: "submit", class: "primary small" }, "Set password"), close));
    }
    if (open.tool === "role") {
      const role = h("select", { id: "role-select" }, ROLES.map((r) => h("option", { value: r, selected: r === a.role }, label(r))));
      const countries = h("input", { id: "role-countries", value: a.countries.join(", "), placeholder: "CD, UG", autocomplete: "off" });
      return cell(h("form", { class: "inline", onsubmit: (event) => {
        event.preventDefault();
        const codes = countries.value.split(",").map((c) => c.trim().toUpperCase()).filter(Boolean);
        act(() => call("PUT", `/api/v1/users/${a.id}/role`, { role: role.value, countries: codes }),
          `${a.username} is now ${label(role.value)}`);
      } }, h("label", {}, "Role ", role), h("label", {}, "Countries ", countries),
      h("button", { type: "submit", class: "primary small" }, "Save"), close));
    }
    if (open.tool === "phones") {
      const phones = h("input", { id: "phones-input", type: "text", inputmode: "tel", value: (a.phones || []).join(", "),
        placeholder: "+243970000001, +243810000001", autocomplete: "off" });
      return cell(h("form", { class: "inline", onsubmit: (event) => {
        event.preventDefault();
        const numbers = phones.value.split(",").map((n) => n.trim()).filter(Boolean);
        act(() => call("PUT", `/api/v1/users/${a.id}/phones`, { phones: numbers }),
          numbers.length ? `${a.username}'s numbers: ${numbers.join(", ")}` : `${a.username} has no phone number now`);
      } }, h("label", {}, `Numbers of ${a.username} in E.164, first choice first, comma-separated (empty: none) `, phones),
      h("button", { type: "submit", class: "primary small" }, "Save"), close));
    }
    const sessions = h("ul", { class: "sessions" }, h("li", { class: "muted" }, "Loading…"));
    call("GET", `/api/v1/users/${a.id}/sessions`).then((found) => {
      sessions.replaceChildren(...(found.length ? found.map((s) => h("li", {},
        "Logged in ", timeEl(s.issued_at), ", until ", timeEl(s.expires_at), s.current ? " (this page)" : " ",
        h("button", { type: "button", class: "ghost small",
          onclick: () => act(() => call("DELETE", `/api/v1/users/${a.id}/sessions/${s.id}`), "The session ended") }, "End"))) : [h("li", { class: "muted" }, "No live session.")]));
    }).catch((e) => say(message, e.message));
    return cell(h("p", {}, `Sessions of ${a.username}`), sessions, close);
  }

  async function enable(a) {
    try {
      await call("POST", `/api/v1/users/${a.id}/enable`);
      toast(`${a.username} is enabled; they log in again`);
      await reload();
    } catch (e) {
      toast(e.message, "error");
    }
  }

  return { reload };
}

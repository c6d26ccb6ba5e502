// The case page: its actions open one at a time in a drawer under the action bar, and its record is in
// tabs (the History and Documents tabs load on first opening, through htmx). Without this file every
// drawer and tab is shown (css/case_page_nojs.css) and the page works as a plain form page.
(() => {
  const FIELDS = "input:not([type=hidden]), select, textarea";
  const NOT_TYPING_TYPES = new Set(["button", "submit", "reset", "checkbox", "radio"]);

  function isTyping(element) {
    if (!element || element === document.body) return false;
    if (element.isContentEditable || element.matches("textarea, select")) return true;
    return element.matches("input") && !NOT_TYPING_TYPES.has(element.type);
  }

  function openerOf(drawer) {
    return document.querySelector(`.action-bar [data-drawer-open="${drawer.id}"]`);
  }

  function closeDrawer(drawer, { refocus = true } = {}) {
    drawer.classList.remove("open");
    const opener = openerOf(drawer);
    if (opener) opener.setAttribute("aria-expanded", "false");
    if (refocus && opener) opener.focus();
  }

  function focusIn(drawer) {
    const field = [...drawer.querySelectorAll(FIELDS)].find((f) => !f.disabled && f.getClientRects().length);
    if (field) {
      field.focus();
    } else {
      drawer.setAttribute("tabindex", "-1");
      drawer.focus();
    }
  }

  // A drawer the page did not draw (collections_app.views.LAZY_DRAWERS) holds a link to its form: fetched
  // into the drawer when first opened, the first field focused once it is there (if still open). Without
  // htmx the link is followed (the page with that drawer open).
  function load(drawer) {
    const link = drawer.querySelector("a[data-drawer-load]");
    if (!link) return false;
    if (typeof htmx === "undefined") {
      window.location.assign(link.href);
      return true;
    }
    link.removeAttribute("data-drawer-load");
    drawer.setAttribute("aria-busy", "true");
    drawer.setAttribute("tabindex", "-1");
    drawer.focus(); // off the opener: keys wait for the form (shortcuts.js) instead of acting on the page
    const done = () => {
      drawer.removeAttribute("aria-busy");
      if (drawer.classList.contains("open") && drawer.contains(document.activeElement)) focusIn(drawer);
    };
    htmx.ajax("GET", link.href, { source: link, target: link.parentElement, swap: "innerHTML" }).then(done, done);
    return true;
  }

  function openDrawer(drawer) {
    document.querySelectorAll("[data-drawer].open").forEach((other) => {
      if (other !== drawer) closeDrawer(other, { refocus: false });
    });
    drawer.classList.add("open");
    const opener = openerOf(drawer);
    if (opener) opener.setAttribute("aria-expanded", "true");
    const loading = load(drawer);
    if (!loading) focusIn(drawer);
    drawer.scrollIntoView({ block: "nearest" });
  }

  function selectTab(tab) {
    const list = tab.closest("[role=tablist]");
    list.querySelectorAll("[role=tab]").forEach((other) => {
      const selected = other === tab;
      other.setAttribute("aria-selected", selected ? "true" : "false");
      other.tabIndex = selected ? 0 : -1;
      const panel = document.getElementById(other.getAttribute("aria-controls"));
      if (panel) panel.hidden = !selected;
    });
  }

  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-drawer-open]");
    if (opener) {
      const drawer = document.getElementById(opener.dataset.drawerOpen);
      if (drawer) openDrawer(drawer);
      return;
    }
    const closer = event.target.closest("[data-drawer-close]");
    if (closer) {
      closeDrawer(closer.closest("[data-drawer]"));
      return;
    }
    const tab = event.target.closest("[role=tab][data-tab]");
    if (tab) selectTab(tab);
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.altKey || event.metaKey || event.isComposing) return;
    // Esc in a field leaves the field (shortcuts.js); Esc again closes the drawer.
    if (event.key === "Escape" && !isTyping(event.target)) {
      const drawer = document.querySelector("[data-drawer].open");
      if (drawer && !document.querySelector("dialog[open]")) closeDrawer(drawer);
      return;
    }
    const tab = event.target.closest && event.target.closest("[role=tab][data-tab]");
    if (tab && (event.key === "ArrowRight" || event.key === "ArrowLeft")) {
      const tabs = [...tab.closest("[role=tablist]").querySelectorAll("[role=tab]")];
      const step = event.key === "ArrowRight" ? 1 : -1;
      const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
      next.focus();
      next.click();
      event.preventDefault();
    }
  });

  // An action answered: the body is swapped in with its drawers closed when the action went through
  // (open with the refusal or the field to correct when it did not). When it went through, focus goes
  // back to the action's button in the bar, so the next key is a shortcut again (n: Next case).
  // After settling: until then htmx keeps the old attributes (the drawer's "open") on the new elements.
  document.addEventListener("htmx:afterSettle", (event) => {
    const config = event.detail.requestConfig;
    const source = config && config.elt;
    if (!source || !source.closest || !source.matches("form")) return;
    const id = source.closest("[data-drawer]") ? source.closest("[data-drawer]").id : null;
    const drawer = id && document.getElementById(id);
    if (!drawer || drawer.classList.contains("open")) return;
    const opener = openerOf(drawer);
    if (opener) opener.focus();
  });
})();

// A call's outcome recorded in the Call drawer (telephony) answers with the event "contactLogged": the
// case body is fetched again so the timeline and the policy panel show the new attempt.
document.body.addEventListener("contactLogged", () => {
  if (typeof htmx === "undefined" || !document.getElementById("case-body")) return;
  htmx.ajax("GET", window.location.pathname, { target: "#case-body", select: "#case-body", swap: "outerHTML" });
});

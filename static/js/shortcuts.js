// Keyboard shortcuts. The page declares them: an element with data-shortcut="KEY" is what KEY does - a
// button or link is pressed, a field is focused, a form (or any other element) has its first field
// focused. The overlay listing them is the page's <dialog data-shortcuts-help>; its entries
// (data-shortcut-help="KEY") for keys with nothing to do on this page are hidden. This file holds no
// URL and no text: the templates have both, translated.
//
// A shortcut is a single key, never with Ctrl, Alt or Meta (the browser's and the screen reader's own
// keys stay theirs), and does nothing while the agent types in a field or composes with an input method;
// Esc leaves the field, so the next key is a shortcut again.
(() => {
  const FIELDS = "input:not([type=hidden]), select, textarea";
  const FOCUSABLE = `${FIELDS}, button, a[href], [tabindex]:not([tabindex="-1"])`;
  const NOT_TYPING_TYPES = new Set(["button", "submit", "reset", "checkbox", "radio"]);
  const HELP_KEY = "?";

  function isTyping(element) {
    if (!element || element === document.body) return false;
    if (element.isContentEditable) return true;
    if (element.matches("textarea, select")) return true;
    return element.matches("input") && !NOT_TYPING_TYPES.has(element.type);
  }

  function isShown(element) {
    return !element.closest("[hidden]") && element.getClientRects().length > 0;
  }

  function usable(element) {
    return isShown(element) && !element.disabled && !element.closest("[inert]");
  }

  // The page's main content wins over the top bar (Search: the search page's own field before the
  // navigation's link to it).
  function targetFor(key) {
    const candidates = [...document.querySelectorAll("[data-shortcut]")]
      .filter((element) => element.dataset.shortcut === key && usable(element));
    return candidates.find((element) => element.closest("main")) || candidates[0] || null;
  }

  function firstField(container) {
    return [...container.querySelectorAll(FOCUSABLE)].find(usable) || null;
  }

  function activate(target) {
    if (target.matches("button, a[href], input[type=submit], input[type=button]")) {
      target.click();
      return;
    }
    const field = target.matches(FOCUSABLE) ? target : firstField(target);
    if (field) {
      field.focus();
      field.scrollIntoView({ block: "center" });
    }
  }

  function helpDialog() {
    return document.querySelector("dialog[data-shortcuts-help]");
  }

  let returnFocusTo = null;

  function openHelp() {
    const dialog = helpDialog();
    if (!dialog || dialog.open) return;
    dialog.querySelectorAll("[data-shortcut-help]").forEach((entry) => {
      entry.hidden = targetFor(entry.dataset.shortcutHelp) === null;
    });
    returnFocusTo = document.activeElement;
    dialog.showModal();
  }

  // Keep Tab inside the open overlay (showModal makes the page inert; this also keeps focus off the
  // browser's own toolbar), and put focus back where it was when the overlay closes.
  function trapTab(event, dialog) {
    const focusable = [...dialog.querySelectorAll(FOCUSABLE)].filter(usable);
    if (focusable.length === 0) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (event.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      first.focus();
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.isComposing || event.ctrlKey || event.altKey || event.metaKey) return;
    const dialog = helpDialog();
    if (dialog && dialog.open) {
      // Esc closes the modal dialog natively (its cancel event).
      if (event.key === "Tab") trapTab(event, dialog);
      return;
    }
    if (event.key === "Escape") {
      if (isTyping(document.activeElement)) document.activeElement.blur();
      return;
    }
    if (event.repeat || isTyping(event.target)) return;
    // A drawer's form on its way (case_page.js): no key acts elsewhere meanwhile (n would leave the case).
    if (document.querySelector("[data-drawer][aria-busy=true]")) {
      event.preventDefault();
      return;
    }
    if (event.key === HELP_KEY && dialog) {
      event.preventDefault();
      openHelp();
      return;
    }
    // Caps Lock on: "N" without Shift is still n.
    const key = event.key.length === 1 && !event.shiftKey ? event.key.toLowerCase() : event.key;
    const target = targetFor(key);
    if (target) {
      event.preventDefault(); // "/" must not also start the browser's quick find
      activate(target);
    }
  });

  // After htmx swaps the case in, it puts focus back on the field with the same id. When the action went
  // through, focus moves to the form instead (its heading is read out), so the next key is a shortcut
  // again - n for Next case; after an error it stays in the field to correct.
  // The form is the one that sent *this* response (another request - a hint, the lease renewal - may
  // have started and ended in between).
  document.addEventListener("htmx:afterSwap", (event) => {
    const config = event.detail.requestConfig;
    const source = config && config.elt;
    const id = source && source.matches && source.matches("form[id]") ? source.id : null;
    const form = id && document.getElementById(id);
    const active = document.activeElement;
    if (!form || !isShown(form) || !form.contains(active) || !isTyping(active)) return;
    if (form.querySelector(".errorlist, [role=alert]")) return;
    if (!form.hasAttribute("tabindex")) form.setAttribute("tabindex", "-1");
    form.focus();
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-shortcuts-open]")) openHelp();
  });

  document.addEventListener("DOMContentLoaded", () => {
    const dialog = helpDialog();
    if (!dialog) return;
    document.querySelectorAll("[data-shortcuts-open]").forEach((button) => { button.hidden = false; });
    dialog.addEventListener("close", () => {
      if (returnFocusTo && returnFocusTo.isConnected && returnFocusTo !== document.body) returnFocusTo.focus();
      returnFocusTo = null;
    });
  });
})();

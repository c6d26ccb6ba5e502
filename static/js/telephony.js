// Click-to-call (telephony): the Dial button asks the server first (the contact policy, the call's record);
// when the answer holds a tel: or sip: link to open (data-autodial), it is opened once, so one press
// reaches the phone. The link stays on the page for a second try; without JavaScript it is clicked.
document.addEventListener("htmx:afterSettle", () => {
  const link = document.querySelector("a[data-autodial]");
  if (!link) return;
  link.removeAttribute("data-autodial");
  link.focus();
  window.location.href = link.href;
});

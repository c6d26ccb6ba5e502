// Small progressive enhancements; every page works without them.
document.addEventListener("htmx:responseError", (event) => {
  const target = event.detail.target;
  if (target) {
    target.insertAdjacentHTML("afterbegin", `<p class="error" role="alert">${event.detail.xhr.statusText || "Error"}</p>`);
  }
});

// The callback form takes the cardholder's wall-clock time; beside it, the same moment on the agent's
// own clock (the server reads the time the same way: contactability.cardholder_local_time).
function zoneOffsetMinutes(instant, zone) {
  const parts = {};
  new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(instant).forEach((p) => { parts[p.type] = p.value; });
  const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return Math.round((asUtc - instant.getTime()) / 60000);
}

function wallClock(instant, zone) {
  const parts = {};
  new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit",
  }).formatToParts(instant).forEach((p) => { parts[p.type] = p.value; });
  return { day: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

function showYourTime(out) {
  const input = document.getElementById(out.dataset.dualTimeFor);
  const match = input && /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})/.exec(input.value);
  const cardholderZone = out.dataset.cardholderZone;
  const yourZone = out.dataset.yourZone;
  if (!match || !cardholderZone || !yourZone || cardholderZone === yourZone) {
    out.textContent = "";
    return;
  }
  const [, y, mo, d, h, mi] = match.map(Number);
  const naive = Date.UTC(y, mo - 1, d, h, mi);
  // The offset of the moment itself (summer time): guess, then correct once.
  let instant = new Date(naive - zoneOffsetMinutes(new Date(naive), cardholderZone) * 60000);
  instant = new Date(naive - zoneOffsetMinutes(instant, cardholderZone) * 60000);
  const theirs = wallClock(instant, cardholderZone);
  const yours = wallClock(instant, yourZone);
  const when = yours.day === theirs.day ? yours.time : `${yours.day} ${yours.time}`;
  out.textContent = ` (${out.dataset.yourTimeLabel} ${when})`;
}

function showAllYourTimes() {
  document.querySelectorAll("[data-dual-time-for]").forEach(showYourTime);
}
document.addEventListener("input", (event) => {
  if (event.target.id) {
    document.querySelectorAll(`[data-dual-time-for="${event.target.id}"]`).forEach(showYourTime);
  }
});
document.addEventListener("DOMContentLoaded", showAllYourTimes);
document.addEventListener("htmx:afterSettle", showAllYourTimes);

// A select that submits its form when changed (the language switch); no inline onchange under the CSP.
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-submit-on-change]") && event.target.form) {
    event.target.form.submit();
  }
});

// jobfleet console: progressive enhancement only. Every page works
// without this file; the server enforces every check repeated here.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Typed confirmations: enable the submit button once the text matches.
  for (const input of document.querySelectorAll("input[data-must-equal]")) {
    const button = input.form && input.form.querySelector("button[type=submit]");
    if (!button) continue;
    const sync = () => { button.disabled = input.value.trim() !== input.dataset.mustEqual; };
    input.addEventListener("input", sync);
    sync();
  }
  // A running replay's page: refresh its counts without reloading.
  const state = document.getElementById("replay-state");
  if (state && state.dataset.finished === "false") {
    const id = location.pathname.split("/").pop();
    const tick = async () => {
      try {
        const r = await fetch(`/api/replays/${id}`, { headers: { Accept: "application/json" } });
        if (!r.ok) return;
        const s = await r.json();
        document.getElementById("replay-matched").textContent = s.record.matched;
        document.getElementById("replay-moved").textContent = s.record.moved;
        if (s.record.finished) location.reload();
      } catch (_) { /* the meta refresh still works */ }
    };
    setInterval(tick, 1000);
  }
});

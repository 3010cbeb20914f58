// versiongate dashboard: pages are server-rendered and work without this file. It only
// (1) refreshes the parts marked data-refresh, (2) follows a running deployment's log over SSE,
// (3) shows that a button was pressed.
"use strict";

function refreshLiveParts() {
  const parts = document.querySelectorAll("[data-refresh][id]");
  if (parts.length === 0) return;
  setInterval(async () => {
    if (document.hidden) return;
    let res;
    try {
      res = await fetch(location.href, { credentials: "same-origin" });
    } catch (e) {
      return; // the gateway may be restarting; the next tick tries again
    }
    if (res.redirected && res.url.includes("/login")) {
      location.href = res.url;
      return;
    }
    if (!res.ok) return;
    const fresh = new DOMParser().parseFromString(await res.text(), "text/html");
    for (const old of document.querySelectorAll("[data-refresh][id]")) {
      const next = fresh.getElementById(old.id);
      // Never replace what the user is typing into.
      if (next && !old.contains(document.activeElement)) old.replaceWith(next);
    }
  }, 2000);
}

function followLog() {
  const log = document.querySelector("pre[data-follow]");
  if (!log) return;
  const state = document.getElementById("log-state");
  const source = new EventSource(log.dataset.follow);
  source.onmessage = (e) => {
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    log.append(e.data + "\n");
    if (atBottom) log.scrollTop = log.scrollHeight;
  };
  source.addEventListener("end", (e) => {
    source.close();
    state.textContent = "The deployment ended: " + e.data + ". Reloading the page…";
    setTimeout(() => location.reload(), 1000);
  });
  source.onerror = () => {
    // The stream replays from the start, so reload the page rather than reconnecting mid-log.
    source.close();
    state.textContent = "Lost the log stream; reloading in 3 s…";
    setTimeout(() => location.reload(), 3000);
  };
}

function showPresses() {
  document.addEventListener("submit", (e) => {
    const button = e.target.querySelector("button[type=submit]");
    if (button) {
      button.disabled = true;
      button.dataset.label = button.textContent;
      button.textContent = "Working…";
    }
  });
  // Coming back with the browser's back button must not leave buttons disabled.
  window.addEventListener("pageshow", () => {
    for (const b of document.querySelectorAll("button[data-label]")) {
      b.disabled = false;
      b.textContent = b.dataset.label;
    }
  });
}

refreshLiveParts();
followLog();
showPresses();

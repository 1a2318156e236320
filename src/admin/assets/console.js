// The console's only script: copy buttons. Everything else works without JavaScript.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button.copy") : null;
  if (!button) return;
  const value = button.getAttribute("data-copy") || "";
  const done = () => {
    const label = button.textContent;
    button.textContent = button.getAttribute("data-done") || label;
    setTimeout(() => {
      button.textContent = label;
    }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(value).then(done, () => fallback(value) && done());
  } else if (fallback(value)) {
    done();
  }
});

function fallback(value) {
  const area = document.createElement("textarea");
  area.value = value;
  area.setAttribute("readonly", "");
  area.className = "sr-only";
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  return ok;
}

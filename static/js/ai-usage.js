// The month's AI usage on the issue page (rendered by the server), brought up to date each time
// an AI call ends. Apart from issue-page.js: it only watches the AI panel's data-state.
const block = document.getElementById("ai-usage");
const panel = document.getElementById("ai");
const count = new Intl.NumberFormat("en-US");

/** Dollars as the server writes them (ai_assist/usage.py: usd). */
function usd(amount) {
  if (amount === 0) return "$0";
  if (amount >= 1) return `$${amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  return `$${amount < 0.0001 ? amount.toPrecision(2) : amount.toFixed(4)}`;
}

async function update() {
  let usage;
  try {
    const response = await fetch(block.dataset.usageUrl, {
      headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
    });
    if (!response.ok) return;
    usage = await response.json();
  } catch {
    return; // the next page load shows it
  }
  const shown = { tokens: count.format(usage.tokens), cost: usd(usage.costUsd) };
  if (usage.remaining !== null) shown.remaining = count.format(usage.remaining);
  for (const [name, text] of Object.entries(shown)) {
    const field = block.querySelector(`[data-usage="${name}"]`);
    if (field) field.textContent = text;
  }
  const meter = block.querySelector("meter");
  if (meter) meter.value = usage.tokens;
  block.classList.toggle("ai__usage--spent", usage.remaining === 0);
}

if (block && panel) {
  new MutationObserver(() => {
    if (["completed", "aborted", "error"].includes(panel.dataset.state)) {
      update();
      setTimeout(update, 1000); // a stopped call is stored a moment after the browser let go
    }
  }).observe(panel, { attributes: true, attributeFilter: ["data-state"] });
}

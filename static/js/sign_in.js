// Email first (R43): ask where the typed email signs in. An email at a domain with its own
// identity provider keeps the password hidden and continues to the provider; any other email
// gets the password step. Without this script both fields show and the server decides.
(function () {
  "use strict";
  const form = document.querySelector("form[data-email-first]");
  if (!form) return;
  const email = form.querySelector("input[name=username]");
  const password = form.querySelector("input[name=password]");
  const steps = document.querySelectorAll("[data-password-step]");
  const submit = form.querySelector("[data-submit]");
  const note = form.querySelector("[data-sso-note]");
  const usePassword = form.querySelector("[data-use-password]");
  const signInLabel = submit.textContent;
  let state = "email"; // "email" | "password" | "provider"
  let asked = "";
  let timer = null;

  function show(next) {
    state = next;
    steps.forEach((el) => { el.hidden = next !== "password"; });
    note.hidden = next !== "provider";
    usePassword.hidden = next !== "provider";
    submit.textContent = next === "password" ? signInLabel : submit.dataset.labelSso;
  }

  function looksLikeEmail(value) {
    return /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value.trim());
  }

  async function discover() {
    const value = email.value.trim();
    if (!looksLikeEmail(value)) { show("email"); asked = ""; return state; }
    if (value === asked && state !== "email") return state;
    asked = value;
    try {
      const url = form.dataset.discoverUrl + "?email=" + encodeURIComponent(value);
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      const body = await response.json();
      if (email.value.trim() === value) show(body.provider ? "provider" : "password");
    } catch (error) {
      show("password");
    }
    return state;
  }

  email.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(discover, 150);
  });
  usePassword.addEventListener("click", () => { show("password"); password.focus(); });
  form.addEventListener("submit", async (event) => {
    if (state === "password") return;
    event.preventDefault();
    const next = await discover();
    if (next === "provider") {
      password.value = "";
      form.submit();
    } else if (next === "password") {
      password.focus();
    } else {
      email.focus();
    }
  });

  const hasErrors = form.querySelector(".field--error, .form-errors, [role=alert]");
  if (hasErrors && email.value) { show("password"); asked = ""; discover(); }
  else if (email.value) { discover(); }
  else { show("email"); }
})();

// Passkeys (WebAuthn): adding one on the Security page, signing in with one. The server sends
// the options as JSON with binary fields in base64url; the browser API wants ArrayBuffers.
(function () {
  "use strict";

  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(base64), function (c) { return c.charCodeAt(0); }).buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    var field = document.querySelector("[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || "Something went wrong. Try again."); }
        return data;
      });
    });
  }

  function showError(scope, message) {
    var box = scope.querySelector("[data-passkey-error]") ||
      scope.parentElement.querySelector("[data-passkey-error]");
    if (box) { box.textContent = message; box.hidden = false; }
  }

  function credentialJson(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = toText(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toText(response.authenticatorData);
      json.response.signature = toText(response.signature);
      json.response.userHandle = response.userHandle ? toText(response.userHandle) : null;
    }
    return json;
  }

  function cancelled(error) {
    return error && (error.name === "NotAllowedError" || error.name === "AbortError");
  }

  function supported(scope) {
    if (window.PublicKeyCredential) { return true; }
    showError(scope, "This browser cannot use passkeys.");
    return false;
  }

  document.querySelectorAll("[data-passkey-register]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!supported(form)) { return; }
      post(form.dataset.optionsUrl).then(function (options) {
        options.challenge = toBuffer(options.challenge);
        options.user.id = toBuffer(options.user.id);
        (options.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
        return navigator.credentials.create({ publicKey: options });
      }).then(function (credential) {
        return post(form.dataset.url, {
          name: form.querySelector("[name=name]").value,
          credential: credentialJson(credential)
        });
      }).then(function (data) {
        window.location.assign(data.redirect);
      }).catch(function (error) {
        showError(form, cancelled(error) ? "Adding the passkey was cancelled." : error.message);
      });
    });
  });

  document.querySelectorAll("[data-passkey-signin]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!supported(button)) { return; }
      post(button.dataset.optionsUrl).then(function (options) {
        options.challenge = toBuffer(options.challenge);
        (options.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
        return navigator.credentials.get({ publicKey: options });
      }).then(function (credential) {
        return post(button.dataset.url, {
          credential: credentialJson(credential),
          next: button.dataset.next || ""
        });
      }).then(function (data) {
        window.location.assign(data.redirect);
      }).catch(function (error) {
        showError(button, cancelled(error) ? "Signing in with the passkey was cancelled." : error.message);
      });
    });
  });
})();

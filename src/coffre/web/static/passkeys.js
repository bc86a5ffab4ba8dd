// Passkeys for Coffre's server-rendered forms: the browser's side of the WebAuthn
// ceremonies, and nothing else.
//
// A form marked data-passkey="create" (add a passkey) or data-passkey="get" (sign in with
// one) carries the server's options as JSON in data-options. On submit, this script asks
// the browser for a credential, writes it as JSON into the form's hidden "credential"
// field and submits the form; the server verifies it. Such forms are hidden until this
// script shows them, so without JavaScript the page keeps its codes and says why.
(function () {
  "use strict";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: toBytes(item.id), transports: item.transports };
    });
  }

  function creationOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    options.excludeCredentials = descriptors(options.excludeCredentials);
    return options;
  }

  function requestOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.allowCredentials = descriptors(options.allowCredentials);
    return options;
  }

  function answer(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) },
    };
    if (response.attestationObject) {
      json.response.attestationObject = toText(response.attestationObject);
      if (response.getTransports) {
        json.response.transports = response.getTransports();
      }
    } else {
      json.response.authenticatorData = toText(response.authenticatorData);
      json.response.signature = toText(response.signature);
      if (response.userHandle) {
        json.response.userHandle = toText(response.userHandle);
      }
    }
    return JSON.stringify(json);
  }

  function ceremony(form) {
    var options = JSON.parse(form.dataset.options);
    if (form.dataset.passkey === "create") {
      return navigator.credentials.create({ publicKey: creationOptions(options) });
    }
    return navigator.credentials.get({ publicKey: requestOptions(options) });
  }

  function enable(form) {
    var field = form.elements.namedItem("credential");
    var failure = form.querySelector("[data-passkey-error]");
    var busy = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) {
        return;
      }
      busy = true;
      failure.hidden = true;
      ceremony(form)
        .then(function (credential) {
          field.value = answer(credential);
          form.submit();
        })
        .catch(function () {
          busy = false;
          failure.textContent = form.dataset.failed;
          failure.hidden = false;
        });
    });
    form.hidden = false;
    var note = document.querySelector("[data-passkey-note]");
    if (note) {
      note.hidden = true;
    }
  }

  if (window.PublicKeyCredential && navigator.credentials) {
    document.querySelectorAll("form[data-passkey]").forEach(enable);
  }
})();

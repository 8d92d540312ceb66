/*
 * Starts Swagger UI on /api/docs. It lives in a file rather than in the page so that the
 * Content-Security-Policy can forbid inline scripts (script-src 'self'); the page passes the
 * OpenAPI document's URL in a data attribute.
 */
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // Keep the token given to Authorize across reloads of the page.
    persistAuthorization: true,
    // No call to the public validator service: the machine may be offline, and the CSP
    // allows images from this server only.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();

/* Behaviour every page shares, kept out of the HTML: the Content-Security-Policy allows only
   script files of this site, no inline handlers.
   - <select data-submit-on-change>: choosing an option sends its form (the company switch).
   - <button data-print>: prints the page (statements). */
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("select[data-submit-on-change]") && target.form) {
      target.form.submit();
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-print]");
    if (button) {
      window.print();
    }
  });
})();

// callgate console: the live parts. Server-sent events carry HTML the server rendered
// (and escaped); this script only puts it in place. No build step, no dependencies but htmx.
(function () {
  "use strict";

  function fragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function activate(element) {
    if (window.htmx) { window.htmx.process(element); }
  }

  function setCount(count) {
    var title = document.querySelector("title");
    var base = title ? title.getAttribute("data-title") : document.title;
    document.title = (count > 0 ? "(" + count + ") " : "") + base;
    var badge = document.getElementById("waiting-badge");
    if (badge) {
      badge.textContent = String(count);
      badge.classList.toggle("zero", count === 0);
    }
    var text = document.getElementById("waiting-text");
    if (text) { text.textContent = count + " waiting"; }
  }

  function inbox(element) {
    var source = new EventSource(element.getAttribute("data-stream"));
    var empty = element.querySelector(".empty");
    source.addEventListener("approval", function (event) {
      var card = fragment(event.data);
      var old = document.getElementById(card.id);
      if (old) { old.replaceWith(card); } else if (empty) { empty.after(card); } else { element.prepend(card); }
      if (empty) { empty.hidden = true; }
      activate(card);
    });
    source.addEventListener("settled", function (event) {
      var card = fragment(event.data);
      var old = document.getElementById(card.id);
      if (old && old.classList.contains("waiting")) { old.replaceWith(card); activate(card); }
    });
    source.addEventListener("count", function (event) {
      var count = parseInt(event.data, 10) || 0;
      setCount(count);
      if (empty) { empty.hidden = element.querySelector(".approval") !== null; }
    });
  }

  function decisions(element) {
    var seen = {};
    for (var i = 0; i < element.children.length; i += 1) {
      seen[element.children[i].getAttribute("data-key")] = true;
    }
    var source = new EventSource(element.getAttribute("data-stream"));
    source.addEventListener("decision", function (event) {
      var table = document.createElement("tbody");
      table.innerHTML = event.data.trim();
      var row = table.firstElementChild;
      if (!row || seen[row.getAttribute("data-key")]) { return; }
      seen[row.getAttribute("data-key")] = true;
      row.classList.add("new");
      // Newest first: a record from before the stream opened goes below newer ones.
      var stamp = row.getAttribute("data-key").split("@")[1];
      var after = null;
      for (var i = 0; i < element.children.length; i += 1) {
        var other = element.children[i].getAttribute("data-key") || "";
        if (other.split("@")[1] < stamp) { after = element.children[i]; break; }
      }
      if (after) { element.insertBefore(row, after); } else { element.append(row); }
      while (element.children.length > 500) { element.lastElementChild.remove(); }
    });
  }

  function badge() {
    // Pages other than the inbox keep the count and the title up to date too.
    var nav = document.getElementById("waiting-badge");
    if (!nav || document.getElementById("inbox")) { return; }
    var link = nav.closest("a");
    var source = new EventSource(link.getAttribute("href").replace(/\/approvals$/, "/events/approvals?count=1"));
    source.addEventListener("count", function (event) { setCount(parseInt(event.data, 10) || 0); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("inbox");
    if (box) { inbox(box); }
    var rows = document.getElementById("decisions");
    if (rows && rows.getAttribute("data-stream")) { decisions(rows); }
    badge();
  });
})();

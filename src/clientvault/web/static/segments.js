// The segment builder (console/segments/new): conditions added by clicking, the rule kept in
// the JSON text area (the form works without this script), the live count fetched from
// POST /api/v1/segments/preview and the explanation from POST /api/v1/segments/explain.
// Loaded as a file (never inline) for the strict CSP; every text is set with textContent.
(function () {
  "use strict";

  var form = document.getElementById("segment-form");
  var area = document.getElementById("segment-rules");
  var builder = document.getElementById("builder");
  if (!form || !area || !builder) {
    return;
  }
  var csrf = form.getAttribute("data-csrf") || "";
  var pickers = JSON.parse(document.getElementById("segment-pickers").textContent || "{}");
  var list = document.getElementById("builder-conditions");
  var join = document.getElementById("builder-join");
  var count = document.getElementById("segment-count");
  var total = document.getElementById("segment-total");
  var problem = document.getElementById("segment-problem");
  var steps = document.getElementById("builder-steps");
  var estimateNote = document.getElementById("segment-estimate");
  var rows = [];
  var timer = null;
  var asked = 0;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function select(name, options, chosen, multiple) {
    var box = el("select", { "class": "input input-small", "data-field": name, "aria-label": name });
    if (multiple) {
      box.multiple = true;
    }
    options.forEach(function (option) {
      var value = Array.isArray(option) ? option[0] : option;
      var label = Array.isArray(option) ? option[1] : option;
      var item = el("option", { value: value }, label);
      if (multiple ? (chosen || []).indexOf(value) >= 0 : value === chosen) {
        item.selected = true;
      }
      box.appendChild(item);
    });
    return box;
  }

  function number(name, value, label) {
    var input = el("input", {
      "class": "input input-small", type: "number", min: "0", step: "any",
      "data-field": name, "aria-label": label || name
    });
    if (value !== undefined && value !== null) {
      input.value = String(value);
    }
    return input;
  }

  function field(row, name) {
    var input = row.element.querySelector('[data-field="' + name + '"]');
    if (!input) {
      return null;
    }
    if (input.multiple) {
      return Array.prototype.filter.call(input.options, function (o) { return o.selected; })
        .map(function (o) { return o.value; });
    }
    return input.value;
  }

  function num(row, name) {
    var value = field(row, name);
    return value === "" || value === null ? null : Number(value);
  }

  function windowOf(row) {
    var days = num(row, "days");
    return days ? { last_days: days } : undefined;
  }

  // An event picker with a property filter: the properties offered are the chosen event's,
  // and the values the chosen property's, both drawn from the data (pickers.properties).
  function eventInputs() {
    var name = select("name", pickers.events || [], null);
    var property = select("property", [], null);
    var value = select("pvalue", [], null);
    property.setAttribute("aria-label", "property");
    value.setAttribute("aria-label", "property value");
    function fill(box, options) {
      box.textContent = "";
      [["", "(any)"]].concat(options).forEach(function (option) {
        var v = Array.isArray(option) ? option[0] : option;
        box.appendChild(el("option", { value: v }, Array.isArray(option) ? option[1] : option));
      });
    }
    function properties() {
      return (pickers.properties || {})[name.value] || {};
    }
    name.addEventListener("change", function () {
      fill(property, Object.keys(properties()));
      fill(value, []);
    });
    property.addEventListener("change", function () {
      fill(value, properties()[property.value] || []);
    });
    fill(property, Object.keys(properties()));
    fill(value, []);
    return [name, el("span", {}, "where"), property, el("span", {}, "is"), value];
  }

  function eventOf(row) {
    var spec = { name: field(row, "name") };
    if (field(row, "property") && field(row, "pvalue")) {
      spec.where = [{ property: field(row, "property"), value: field(row, "pvalue") }];
    }
    return spec;
  }

  var COMPARE = [["gte", "at least"], ["gt", "more than"], ["lte", "at most"], ["lt", "less than"], ["eq", "exactly"]];

  // Each kind: the inputs it shows, and the rule it writes.
  var KINDS = {
    country: {
      label: "Country is",
      inputs: function () { return [select("values", pickers.countries || [], [], true)]; },
      rule: function (row) {
        return { type: "attribute", field: "country", values: field(row, "values") };
      }
    },
    age: {
      label: "Age between",
      inputs: function () { return [number("min", 25, "from"), el("span", {}, "and"), number("max", 40, "to")]; },
      rule: function (row) {
        var rule = { type: "age" };
        if (num(row, "min") !== null) { rule.min = num(row, "min"); }
        if (num(row, "max") !== null) { rule.max = num(row, "max"); }
        return rule;
      }
    },
    interest: {
      label: "Interested in",
      inputs: function () { return [select("value", pickers.interests || [], null)]; },
      rule: function (row) {
        return { type: "trait", key: "interests", op: "contains", value: field(row, "value") };
      }
    },
    event: {
      label: "Did",
      inputs: function () {
        return eventInputs().concat([
          select("count", [["at_least", "at least"], ["at_most", "at most"], ["exactly", "exactly"], ["never", "never"]], "at_least"),
          number("value", 1, "times"), el("span", {}, "times in the last"), number("days", 30, "days"), el("span", {}, "days")]);
      },
      rule: function (row) {
        var rule = { type: "event", event: eventOf(row), count: field(row, "count"), value: num(row, "value") || 0 };
        var w = windowOf(row);
        if (w) { rule.window = w; }
        return rule;
      }
    },
    regularly: {
      label: "Did regularly",
      inputs: function () {
        return eventInputs().concat([el("span", {}, "in at least"), number("min", 3, "periods"),
          el("span", {}, "of the last"), number("total", 4, "of periods"),
          select("unit", [["week", "weeks"], ["month", "months"], ["day", "days"]], "week")]);
      },
      rule: function (row) {
        return { type: "regularly", event: eventOf(row), unit: field(row, "unit"),
          min_periods: num(row, "min") || 1, total_periods: num(row, "total") || 1 };
      }
    },
    stopped: {
      label: "Stopped",
      inputs: function () {
        return eventInputs().concat([el("span", {}, "not in the last"), number("quiet", 30, "quiet days"),
          el("span", {}, "days, after doing it in the"), number("active", 60, "active days"), el("span", {}, "days before")]);
      },
      rule: function (row) {
        var quiet = num(row, "quiet") || 0;
        var rule = { type: "stopped", event: eventOf(row), quiet_from: { days_ago: quiet } };
        if (num(row, "active")) { rule.active_from = { days_ago: quiet + num(row, "active") }; }
        return rule;
      }
    },
    restarted: {
      label: "Restarted",
      inputs: function () {
        return eventInputs().concat([el("span", {}, "again in the last"), number("until", 14, "recent days"),
          el("span", {}, "days, after not doing it in the"), number("quiet", 46, "quiet days"),
          el("span", {}, "days before, but in the"), number("active", 0, "active days"), el("span", {}, "days before that (0: ever)")]);
      },
      rule: function (row) {
        var until = num(row, "until") || 0;
        var from = until + (num(row, "quiet") || 1);
        var rule = { type: "restarted", event: eventOf(row), quiet_from: { days_ago: from }, quiet_until: { days_ago: until } };
        if (num(row, "active")) { rule.active_from = { days_ago: from + num(row, "active") }; }
        return rule;
      }
    },
    trait: {
      label: "Computed trait",
      inputs: function () {
        var value = el("input", { "class": "input input-small", "data-field": "value", "aria-label": "trait value" });
        return [select("name", pickers.traits || [], null),
          select("op", [["eq", "is"], ["ne", "is not"], ["gt", "more than"], ["lt", "less than"], ["contains", "contains"], ["is_set", "is set"]], "eq"),
          value];
      },
      rule: function (row) {
        var rule = { type: "computed_trait", name: field(row, "name"), op: field(row, "op") };
        var text = field(row, "value");
        if (rule.op !== "is_set") {
          rule.value = text !== "" && !isNaN(Number(text)) && rule.op !== "contains" ? Number(text) : text;
        }
        return rule;
      }
    },
    orders: {
      label: "Orders",
      inputs: function () {
        return [select("op", COMPARE, "gte"), number("value", 2, "orders"), el("span", {}, "in the last"), number("days", 90, "days"), el("span", {}, "days")];
      },
      rule: function (row) {
        var rule = { type: "orders", metric: "order_count", op: field(row, "op"), value: num(row, "value") || 0 };
        var w = windowOf(row);
        if (w) { rule.window = w; }
        return rule;
      }
    },
    spent: {
      label: "Total spent",
      inputs: function () { return [select("op", COMPARE, "gt"), number("value", 100, "amount")]; },
      rule: function (row) {
        return { type: "orders", metric: "total_spent", op: field(row, "op"), value: num(row, "value") || 0 };
      }
    },
    category: {
      label: "Bought in",
      inputs: function () {
        return [select("category", pickers.categories || [], null), el("span", {}, "in the last"), number("days", 90, "days"), el("span", {}, "days")];
      },
      rule: function (row) {
        var rule = { type: "bought_category", categories: [field(row, "category")] };
        var w = windowOf(row);
        if (w) { rule.window = w; }
        return rule;
      }
    },
    abandoned: {
      label: "Abandoned a cart",
      inputs: function () {
        return [select("first", pickers.events || [], "Product Added"), el("span", {}, "with no"),
          select("then", pickers.events || [], "Order Completed"), el("span", {}, "within"), number("hours", 2, "hours"),
          el("span", {}, "hours, in the last"), number("days", 7, "days"), el("span", {}, "days")];
      },
      rule: function (row) {
        var rule = { type: "sequence", first: { name: field(row, "first") }, then_not: { name: field(row, "then") }, within: { hours: num(row, "hours") || 1 } };
        var w = windowOf(row);
        if (w) { rule.window = w; }
        return rule;
      }
    },
    consent: {
      label: "Consent for",
      inputs: function () {
        return [select("purpose", pickers.purposes || [], null), el("span", {}, "is"),
          select("state", ["granted", "withdrawn", "none"], "granted")];
      },
      rule: function (row) {
        return { type: "consent", purpose: field(row, "purpose"), state: field(row, "state") };
      }
    },
    score: {
      label: "Score",
      inputs: function () {
        var kinds = Object.keys(pickers.scores || {});
        var labels = [];
        kinds.forEach(function (kind) { labels = labels.concat(pickers.scores[kind]); });
        return [select("kind", kinds, kinds[0]), el("span", {}, "is"), select("labels", labels, [], true)];
      },
      rule: function (row) {
        return { type: "score", kind: field(row, "kind"), labels: field(row, "labels") };
      }
    },
    segment: {
      label: "In segment",
      inputs: function () { return [select("segment", pickers.segments || [], null)]; },
      rule: function (row) { return { type: "segment", segment: field(row, "segment") }; }
    }
  };

  function addRow(kind, raw) {
    var item = el("li", { "class": "builder-condition", "data-kind": kind });
    var row = { kind: kind, element: item, raw: raw };
    item.appendChild(el("span", { "class": "cell-strong" }, kind === "json" ? "Rule" : KINDS[kind].label));
    if (kind === "json") {
      item.appendChild(el("code", {}, JSON.stringify(raw)));
    } else {
      KINDS[kind].inputs().forEach(function (input) { item.appendChild(input); });
    }
    var remove = el("button", { type: "button", "class": "button button-link button-small", "aria-label": "Remove" }, "Remove");
    remove.addEventListener("click", function () {
      rows.splice(rows.indexOf(row), 1);
      item.remove();
      changed();
    });
    item.appendChild(remove);
    item.addEventListener("change", changed);
    item.addEventListener("input", changed);
    list.appendChild(item);
    rows.push(row);
    return row;
  }

  function ruleOf() {
    var children = rows.map(function (row) { return row.kind === "json" ? row.raw : KINDS[row.kind].rule(row); });
    var rule = {};
    rule[join.value] = children;
    return rule;
  }

  function changed() {
    area.value = JSON.stringify(ruleOf(), null, 2);
    schedule();
  }

  function fromArea() {
    var rule;
    try {
      rule = JSON.parse(area.value || "{}");
    } catch (error) {
      problem.textContent = "The rule is not valid JSON.";
      return;
    }
    rows.forEach(function (row) { row.element.remove(); });
    rows = [];
    if (rule && (Array.isArray(rule.all) || Array.isArray(rule.any))) {
      join.value = Array.isArray(rule.all) ? "all" : "any";
      (rule.all || rule.any).forEach(function (child) { addRow("json", child); });
    } else if (rule && Object.keys(rule).length) {
      addRow("json", rule);
    }
    schedule();
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(previewNow, 300);
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    });
  }

  // The count comes in two answers: an estimate from a sample of the profiles (quick even
  // with millions of them), then the exact figures, which replace it; a newer rule drops both.
  function previewNow() {
    var rule;
    try {
      rule = JSON.parse(area.value);
    } catch (error) {
      problem.textContent = "The rule is not valid JSON.";
      return;
    }
    var mine = ++asked;
    count.setAttribute("aria-busy", "true");
    post("/api/v1/segments/preview", { rules: rule, estimate: true }).then(function (answer) {
      if (mine !== asked) {
        return;
      }
      if (!showPreview(answer) || !answer.data.estimated) {
        count.removeAttribute("aria-busy");
        return;
      }
      return post("/api/v1/segments/preview", { rules: rule }).then(function (exact) {
        if (mine === asked) {
          count.removeAttribute("aria-busy");
          showPreview(exact);
        }
      });
    }).catch(function () {
      count.removeAttribute("aria-busy");
      count.textContent = "—";
    });
  }

  function showPreview(answer) {
    if (!answer.ok) {
      count.textContent = "—";
      estimateNote.hidden = true;
      problem.textContent = (answer.data && answer.data.error && answer.data.error.message) || "The rule is not valid.";
      return false;
    }
    var data = answer.data;
    var about = data.estimated ? "≈ " : "";
    problem.textContent = "";
    count.textContent = about + data.size;
    total.textContent = "of " + data.total;
    estimateNote.hidden = !data.estimated;
    estimateNote.textContent = data.estimated
      ? "(estimated from " + data.sample + " profiles, 95 % between " + data.low + " and " + data.high + "; counting exactly…)"
      : "";
    var body = steps.querySelector("tbody");
    body.textContent = "";
    data.steps.forEach(function (step) {
      var tr = el("tr");
      tr.appendChild(el("td", {}, step.label));
      tr.appendChild(el("td", { "class": "cell-num" }, about + step.alone));
      tr.appendChild(el("td", { "class": "cell-num" }, about + step.cumulative));
      body.appendChild(tr);
    });
    steps.hidden = data.steps.length === 0;
    return true;
  }

  function showExplanation(node, into) {
    var item = el("li", { "class": node.holds ? "explain-yes" : "explain-no" });
    item.appendChild(el("strong", {}, node.holds ? "yes " : "no "));
    item.appendChild(document.createTextNode(node.label));
    if (node.children.length) {
      var inner = el("ul");
      node.children.forEach(function (child) { showExplanation(child, inner); });
      item.appendChild(inner);
    }
    into.appendChild(item);
  }

  builder.hidden = false;
  document.getElementById("explain-panel").hidden = false;
  Array.prototype.forEach.call(document.querySelectorAll("[data-add]"), function (button) {
    button.addEventListener("click", function () {
      addRow(button.getAttribute("data-add"));
      changed();
    });
  });
  join.addEventListener("change", changed);
  area.addEventListener("change", fromArea);
  document.getElementById("explain-go").addEventListener("click", function () {
    var result = document.getElementById("explain-result");
    result.textContent = "";
    post("/api/v1/segments/explain", {
      rules: JSON.parse(area.value),
      customer_id: document.getElementById("explain-id").value.trim()
    }).then(function (answer) {
      if (answer.ok) {
        showExplanation(answer.data, result);
      } else {
        result.appendChild(el("li", {}, (answer.data && answer.data.error && answer.data.error.message) || "Cannot explain."));
      }
    });
  });
  fromArea();
})();

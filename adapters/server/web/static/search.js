"use strict";
// The search page. Live: asks the server that served it (/v1/collection, /v1/search and the
// /v1/pages/* images, with the API key of this tab). Export: renders the results embedded in
// #page-data. Every text from the server is set as text, never parsed as markup.
(() => {
  const $ = (id) => document.getElementById(id);
  const DATA = JSON.parse($("page-data").textContent);
  const KEY = "retrieval.apiKey";
  const SIDE = 768;
  let stages = {};
  let blobs = [];
  let generation = 0;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function setStatus(text, error) {
    $("status").textContent = text;
    $("status").classList.toggle("error", Boolean(error));
  }

  // Four significant digits, as the CLI prints scores.
  const fmt = (x) => (typeof x === "number" ? String(Number(x.toPrecision(4))) : String(x));

  const baseName = (path) => String(path).split(/[\\/]/).pop() || String(path);
  const qs = (params) => new URLSearchParams(params).toString();

  // -- talking to the server --------------------------------------------------------------
  async function request(path, options) {
    const headers = Object.assign({}, (options && options.headers) || {});
    const key = sessionStorage.getItem(KEY);
    if (key) headers.Authorization = "Bearer " + key;
    const response = await fetch(path, Object.assign({}, options, { headers }));
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try {
        const body = await response.json();
        if (body && body.error && body.error.message) message = body.error.message;
      } catch (_) { /* not JSON: keep the status line */ }
      if (response.status === 401) $("options").open = true;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return response;
  }
  const getJSON = async (path, options) => (await request(path, options)).json();

  async function blobURL(path) {
    const blob = await (await request(path)).blob();
    const url = URL.createObjectURL(blob);
    blobs.push(url);
    return url;
  }

  // Where page images and maps come from: the server, or the data URLs of an export.
  const live = {
    isPage: (hit) => typeof (hit.metadata || {}).thumbnail === "string",
    page: (hit) => blobURL("/v1/pages/image?" + qs({ id: hit.id, max_side: SIDE })),
    tokens: async (hit, query) => {
      const body = await getJSON("/v1/pages/similarity?" + qs({ id: hit.id, query }));
      return body.tokens.filter((t) => t.word);
    },
    heatmap: (hit, query, token) => {
      const params = { id: hit.id, query, max_side: SIDE };
      if (token !== null) params.token = token;
      return blobURL("/v1/pages/heatmap?" + qs(params));
    },
  };
  const exported = {
    isPage: (hit) => typeof hit.page_image === "string",
    page: async (hit) => hit.page_image,
    tokens: async (hit) => (hit.similarity ? hit.similarity.tokens : null),
    heatmap: async (hit, query, token) =>
      token === null ? hit.similarity.overall : hit.similarity.maps[String(token)],
  };
  const source = DATA ? exported : live;

  function safeSrc(url) {
    if (typeof url === "string" && (url.startsWith("blob:") || url.startsWith("data:image/"))) {
      return url;
    }
    throw new Error("no image for this page");
  }

  function loadInto(img, url) {
    return new Promise((resolve, reject) => {
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("the image could not be decoded"));
      img.src = safeSrc(url);
    });
  }

  // Page images load when they scroll into view (a long result list costs nothing upfront).
  const pending = new Map();
  const observer = "IntersectionObserver" in window
    ? new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting || !pending.has(entry.target)) continue;
        observer.unobserve(entry.target);
        const start = pending.get(entry.target);
        pending.delete(entry.target);
        start();
      }
    }, { rootMargin: "300px" })
    : null;
  function whenVisible(node, start) {
    if (observer) { pending.set(node, start); observer.observe(node); } else start();
  }

  // -- one hit ------------------------------------------------------------------------------
  function stageTable(hit) {
    const rows = Object.entries(hit.scores || {}).map(([name, value]) => el("tr", {},
      el("th", { text: name }), el("td", { class: "num", text: fmt(value) }),
      el("td", { class: "muted", text: stages[name] || "" })));
    if (typeof hit.first_stage_score === "number") {
      rows.unshift(el("tr", {}, el("th", { text: "first stage" }),
        el("td", { class: "num", text: fmt(hit.first_stage_score) }), el("td")));
    }
    const meta = Object.entries(hit.metadata || {})
      .filter(([key]) => key !== "text" && key !== "thumbnail")
      .map(([key, value]) => el("tr", {}, el("th", { text: key }),
        el("td", { text: typeof value === "object" ? JSON.stringify(value) : String(value) })));
    return el("details", { class: "stages" },
      el("summary", { text: `scores of every stage (${rows.length}) and metadata` }),
      el("table", { class: "stages" }, ...rows),
      meta.length ? el("table", { class: "stages meta" }, ...meta) : null);
  }

  function renderHit(hit, rank, query) {
    const meta = hit.metadata || {};
    const names = Object.keys(hit.scores || {});
    const kind = hit.kind || (names.length ? names[names.length - 1] : "score");
    const where = meta.source ? baseName(meta.source) : (meta.doc_id || "");
    const head = el("div", { class: "head" },
      el("span", { class: "score", text: fmt(hit.score), title: "final score" }),
      el("span", { class: "kind", text: kind, title: stages[kind] || "" }),
      where ? el("span", { class: "source", text: where, title: meta.source || null }) : null,
      meta.page !== undefined ? el("span", { class: "page-no", text: "p. " + meta.page }) : null,
      el("code", { class: "id", text: hit.id }));
    const body = el("div", { class: "body" }, head);
    if (Array.isArray(hit.snippet)) {
      body.append(el("p", { class: "snippet" },
        ...hit.snippet.map(([piece, matched]) => (matched ? el("mark", { text: piece }) : piece))));
    }
    body.append(stageTable(hit));
    if (typeof meta.text === "string" && meta.text.length > 240) {
      body.append(el("details", { class: "full" }, el("summary", { text: "full text" }),
        el("pre", { class: "text", text: meta.text })));
    }
    const rankCell = el("div", { class: "rank", text: String(rank) });
    if (!source.isPage(hit)) return el("article", { class: "hit", "data-id": hit.id }, rankCell, body);
    const [figure, controls] = renderPage(hit, query);
    body.insertBefore(controls, head.nextSibling);
    return el("article", { class: "hit page-hit", "data-id": hit.id }, rankCell, figure, body);
  }

  function renderPage(hit, query) {
    const page = el("img", { class: "page-img", alt: "page image of " + hit.id });
    const heat = el("img", { class: "heatmap", alt: "similarity map over " + hit.id, hidden: true });
    const chips = el("div", { class: "tokens", role: "group", "aria-label": "query tokens" });
    const caption = el("p", { class: "caption", text: "loading the page…" });
    const figure = el("figure", { class: "page", "data-state": "loading" },
      el("div", { class: "frame" }, page, heat));
    const controls = el("div", { class: "map" }, caption, chips);
    const maps = new Map();
    let shown = 0;

    async function show(token, label) {
      const ticket = ++shown;
      if (token === "page") {
        heat.hidden = true;
        figure.dataset.state = "page";
        caption.textContent = "the page without a map";
        return;
      }
      const key = token === null ? "all" : String(token);
      caption.textContent = "rendering the map…";
      if (!maps.has(key)) maps.set(key, source.heatmap(hit, query, token));
      try {
        const url = await maps.get(key);
        if (ticket !== shown) return;
        await loadInto(heat, url);
      } catch (error) {
        maps.delete(key);
        caption.textContent = error.message;
        return;
      }
      if (ticket !== shown) return;
      heat.hidden = false;
      figure.dataset.state = "map";
      figure.dataset.token = key;
      caption.textContent = "similarity map: " + label;
    }

    function chip(text, token, label, title) {
      const button = el("button", { type: "button", class: "chip", text, title, "aria-pressed": "false" });
      button.addEventListener("click", () => {
        for (const other of chips.children) other.setAttribute("aria-pressed", String(other === button));
        show(token, label);
      });
      return button;
    }

    whenVisible(figure, async () => {
      try {
        await loadInto(page, await source.page(hit));
        figure.dataset.state = "page";
        caption.textContent = "";
        const tokens = await source.tokens(hit, query);
        if (!tokens) { caption.textContent = "page image (no similarity map)"; return; }
        const all = chip("all tokens", null, "all query tokens",
          "each patch's best match over the query's tokens");
        chips.append(chip("page", "page", "", "the page without a map"), all,
          ...tokens.map((t) => chip(t.text.trim(), t.index, `token “${t.text.trim()}”`,
            `query token ${t.index}; best patch similarity ${fmt(t.max)}`)));
        all.setAttribute("aria-pressed", "true");
        await show(null, "all query tokens");
      } catch (error) {
        figure.dataset.state = "error";
        caption.textContent = error.message;
      }
    });
    return [figure, controls];
  }

  // -- result lists -------------------------------------------------------------------------
  function render(results, headings) {
    for (const url of blobs) URL.revokeObjectURL(url);
    blobs = [];
    for (const node of pending.keys()) observer.unobserve(node);
    pending.clear();
    const main = $("results");
    main.replaceChildren();
    for (const result of results) {
      const section = el("section", { class: "result" });
      if (headings) section.append(el("h2", { text: result.query }));
      if (!result.hits.length) {
        section.append(el("p", { class: "muted", text: "No results: nothing matches the filter." }));
      }
      result.hits.forEach((hit, i) => section.append(renderHit(hit, i + 1, result.query)));
      main.append(section);
    }
  }

  function showInfo(info) {
    stages = info.stages || {};
    $("collection-name").textContent = info.name;
    const parts = [`${info.chunks} chunks`, info.model, info.kind, info.images ? "page images" : null];
    $("collection-info").textContent = parts.filter(Boolean).join(" · ");
    document.title = info.name + " · retrieval search";
  }

  async function loadInfo() {
    try {
      showInfo(await getJSON("/v1/collection"));
      return true;
    } catch (error) {
      const text = error.status === 401
        ? "This server needs an API key: enter it under “Filter and API key”."
        : error.message;
      setStatus(text, true);
      return false;
    }
  }

  async function search(event) {
    if (event) event.preventDefault();
    const query = $("q").value.trim();
    if (!query) return;
    const k = Number($("k").value);
    const filterText = $("filter").value.trim();
    let filter = null;
    if (filterText) {
      try { filter = JSON.parse(filterText); } catch (error) {
        setStatus("The filter is not valid JSON: " + error.message, true);
        return;
      }
    }
    const params = { q: query, k };
    if (filterText) params.filter = filterText;
    history.replaceState(null, "", "?" + qs(params));
    const ticket = ++generation;
    setStatus("Searching…");
    const started = performance.now();
    try {
      const body = await getJSON("/v1/search", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ query, k, filter, highlight: true }),
      });
      if (ticket !== generation) return;
      render([{ query, hits: body.hits }], false);
      const ms = Math.round(performance.now() - started);
      setStatus(`${body.hits.length} results in ${ms} ms`);
    } catch (error) {
      if (ticket === generation) setStatus(error.message, true);
    }
  }

  if (DATA) {
    showInfo(DATA.collection);
    render(DATA.results, true);
    const count = DATA.results.length;
    setStatus(`${count} ${count === 1 ? "query" : "queries"}, exported ${DATA.created || ""}`);
    $("footer").textContent = "Exported by `retrieval search --html`: page images and maps are embedded in this file.";
    return;
  }
  $("api-key").value = sessionStorage.getItem(KEY) || "";
  $("api-key").addEventListener("change", () => {
    const key = $("api-key").value.trim();
    if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY);
    loadInfo().then((ok) => { if (ok) setStatus(""); });
  });
  $("search-form").addEventListener("submit", search);
  const params = new URLSearchParams(location.search);
  if (params.get("k") && [...$("k").options].some((o) => o.value === params.get("k"))) {
    $("k").value = params.get("k");
  }
  if (params.get("filter")) $("filter").value = params.get("filter");
  if (params.get("q")) $("q").value = params.get("q");
  loadInfo().then(() => { if ($("q").value.trim()) search(); });
})();

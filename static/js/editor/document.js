/**
 * The editor's document (pure, DOM-free): working copies of the annotations the editor touches,
 * changed only by ops, each of which returns its inverse (the undo stack stores those).
 *
 * Entry = {localId, setId, annotationId|null, version|null, points: [[x, y], ...] slide px (rings
 * open, as the API stores them), feature: the GeoJSON Feature the API reads and writes (slide px;
 * `properties` {objectType, name, asap: {type, group, color}, metadata?: {ANNOTATION_DESCRIPTION}})}.
 * `points` is the one source of the geometry: every op edits it and rebuilds `feature.geometry`.
 * localId: "s<setId>:<annotationId>" for annotations that exist on the server, a uuid for new ones.
 *
 * Op = {kind: "create", entry} | {kind: "delete", localId} |
 *      {kind: "set-coordinates", localId, coordinates} | {kind: "move-vertex", localId, index, to} |
 *      {kind: "insert-vertex", localId, index, at} | {kind: "delete-vertex", localId, index} |
 *      {kind: "translate", localIds, dx, dy} | {kind: "set-properties", localId, properties} |
 *      {kind: "splice", localId, index, remove, insert: [[x, y], ...]}
 * `set-properties` takes flat properties: any of {name, type, group, color, comment}.
 * `splice` replaces the run of `remove` points at `index` by `insert` (its inverse holds only the
 * removed run): what a brush stroke changes in a big ring, so undo stores the run, not the ring;
 * `ringSplices(localId, before, after)` gives the splices turning one ring into another.
 * `doc.apply(op)` → `{inverse, changed: localIds[]}`; a "change" event {op, changed} follows.
 */

export const DEFAULT_COLOR = "#F4FA58"; // ASAP's default annotation colour
const DESCRIPTION = "ANNOTATION_DESCRIPTION";

/** @returns {string} the localId of a server annotation */
export function serverLocalId(setId, annotationId) {
  return `s${setId}:${annotationId}`;
}

/**
 * The GeoJSON geometry the API stores for an ASAP type and its points (as the server's writer).
 * @param {string} type
 * @param {number[][]} points
 * @returns {{type: string, coordinates: any}}
 */
export function geometryFor(type, points) {
  const pts = points.map((p) => [p[0], p[1]]);
  const n = pts.length;
  if (type === "PointSet" || (type === "Dot" && n !== 1)) {
    return { type: "MultiPoint", coordinates: pts };
  }
  if (n === 1) {
    return { type: "Point", coordinates: pts[0] };
  }
  if (n === 2 || type === "Measurement") {
    return { type: "LineString", coordinates: pts };
  }
  if (n === 0) {
    return { type: "Polygon", coordinates: [] };
  }
  return { type: "Polygon", coordinates: [[...pts, [pts[0][0], pts[0][1]]]] };
}

/**
 * The points (rings open) of a Feature as the API gives it.
 * @param {object} feature
 * @returns {number[][]}
 */
export function pointsOf(feature) {
  const g = feature.geometry;
  if (!g || !g.coordinates) {
    return [];
  }
  switch (g.type) {
    case "Point":
      return [[g.coordinates[0], g.coordinates[1]]];
    case "MultiPoint":
    case "LineString":
      return g.coordinates.map((p) => [p[0], p[1]]);
    case "Polygon": {
      const ring = (g.coordinates[0] ?? []).map((p) => [p[0], p[1]]);
      const last = ring.length - 1;
      if (last > 0 && ring[0][0] === ring[last][0] && ring[0][1] === ring[last][1]) {
        ring.pop();
      }
      return ring;
    }
    default:
      throw new TypeError(`unsupported geometry ${g.type}`);
  }
}

/**
 * Flat properties of an entry's Feature.
 * @returns {{name: string, type: string, group: string|null, color: string, comment: string}}
 */
export function propertiesOf(feature) {
  const p = feature.properties ?? {};
  const asap = p.asap ?? {};
  return {
    name: p.name ?? "",
    type: asap.type ?? "Polygon",
    group: asap.group ?? null,
    color: asap.color ?? DEFAULT_COLOR,
    comment: p.metadata?.[DESCRIPTION] ?? "",
  };
}

/**
 * A Feature from flat properties and points.
 * @param {{name?: string, type: string, group?: string|null, color?: string, comment?: string}} props
 * @param {number[][]} points
 * @returns {object}
 */
export function makeFeature(props, points) {
  const properties = {
    objectType: "annotation",
    name: props.name ?? "",
    asap: { type: props.type, group: props.group ?? null, color: props.color ?? DEFAULT_COLOR },
  };
  if (props.comment) {
    properties.metadata = { [DESCRIPTION]: props.comment };
  }
  return { type: "Feature", geometry: geometryFor(props.type, points), properties };
}

/**
 * An entry for a Feature (from the API, or a new one).
 * @param {{localId: string, setId: number, annotationId?: number|null, version?: number|null, feature: object}} e
 * @returns {object}
 */
export function makeEntry({ localId, setId, annotationId = null, version = null, feature }) {
  const points = pointsOf(feature);
  const entry = { localId, setId, annotationId, version, points, feature: null };
  entry.feature = makeFeature(propertiesOf(feature), points);
  if (feature.id !== undefined) {
    entry.feature.id = feature.id;
  }
  return entry;
}

const sameXY = (p, q) => p[0] === q[0] && p[1] === q[1];
/** Vertices of `before` tried as the anchor (a few spread round the ring: each costs one scan). */
const ANCHORS = 32;

/**
 * Ring `a` against `b` read from `b[j]` (= `a[k]`) in direction `dir`: the lengths of the common
 * start `p` and end `s`, and the cost (points removed + inserted) of splicing the rest.
 */
function matchRun(a, b, k, j, dir) {
  const n = a.length;
  const m = b.length;
  const bAt = (q) => b[(((j + dir * q) % m) + m) % m];
  const same = (i, q) => sameXY(a[(k + i) % n], bAt(q));
  let p = 0;
  while (p < n && p < m && same(p, p)) {
    p++;
  }
  let s = 0;
  while (s < n - p && s < m - p && same(n - 1 - s, m - 1 - s)) {
    s++;
  }
  return { k, j, dir, p, s, bAt, cost: n - p - s + (m - p - s) };
}

/** The splice ops of a run `matchRun` found (two when it wraps past vertex 0 of `a`). */
function runOps(localId, n, m, { k, p, s, bAt }) {
  const remove = n - p - s;
  const insert = Array.from({ length: m - p - s }, (_, q) => bAt(p + q));
  if (!remove && !insert.length) {
    return [];
  }
  const start = (k + p) % n;
  return start + remove <= n
    ? [{ kind: "splice", localId, index: start, remove, insert }]
    : [ // cut the run's tail (and put the new run there), then its head
      { kind: "splice", localId, index: start, remove: n - start, insert },
      { kind: "splice", localId, index: 0, remove: start + remove - n, insert: [] },
    ];
}

/**
 * The splice ops turning an open ring into another one holding the same ring with a run changed
 * (rings are cyclic and may come back reversed, e.g. from Clipper): one op, or two when the run
 * wraps past vertex 0; the result is the same ring as `after`, maybe from another start vertex.
 * A ring sharing no vertex with `before` is one splice replacing everything. O(n) (no hashing:
 * it runs in the brush's 16 ms).
 * @param {string} localId
 * @param {number[][]} before
 * @param {number[][]} after
 * @returns {object[]} splice ops (empty: the same ring)
 */
export function ringSplices(localId, before, after) {
  const n = before.length;
  const m = after.length;
  const whole = [{ kind: "splice", localId, index: 0, remove: n, insert: after }];
  if (!n || !m) {
    return n || m ? whole : [];
  }
  for (let t = 0; t < Math.min(n, ANCHORS); t++) {
    const k = Math.floor((t * n) / Math.min(n, ANCHORS));
    const j = after.findIndex((q) => sameXY(q, before[k]));
    if (j >= 0) {
      const forward = matchRun(before, after, k, j, 1);
      const backward = matchRun(before, after, k, j, -1);
      return runOps(localId, n, m, forward.cost <= backward.cost ? forward : backward);
    }
  }
  return whole;
}

function cloneEntry(entry) {
  return {
    ...entry,
    points: entry.points.map((p) => [p[0], p[1]]),
    feature: { ...entry.feature, properties: structuredClone(entry.feature.properties) },
  };
}

export class EditDocument extends EventTarget {
  constructor() {
    super();
    /** @type {Map<string, object>} */
    this.entries = new Map();
  }

  /** @returns {object|undefined} the entry of a localId */
  get(localId) {
    return this.entries.get(localId);
  }

  has(localId) {
    return this.entries.has(localId);
  }

  /** Put an entry loaded from the server (no op, nothing to undo or save). */
  put(entry) {
    this.entries.set(entry.localId, entry);
  }

  /** Forget an entry (e.g. once the layer draws it again); no op. */
  forget(localId) {
    this.entries.delete(localId);
  }

  #need(localId) {
    const entry = this.entries.get(localId);
    if (!entry) {
      throw new Error(`no annotation ${localId} in the editor's document`);
    }
    return entry;
  }

  #rebuild(entry) {
    entry.feature.geometry = geometryFor(entry.feature.properties.asap.type, entry.points);
  }

  /**
   * Apply an op.
   * @param {object} op
   * @returns {{inverse: object, changed: string[]}}
   */
  apply(op) {
    const result = this.#apply(op);
    this.dispatchEvent(new CustomEvent("change", { detail: { op, changed: result.changed } }));
    return result;
  }

  #apply(op) {
    switch (op.kind) {
      case "create": {
        if (this.entries.has(op.entry.localId)) {
          throw new Error(`annotation ${op.entry.localId} exists already`);
        }
        this.entries.set(op.entry.localId, cloneEntry(op.entry));
        return { inverse: { kind: "delete", localId: op.entry.localId }, changed: [op.entry.localId] };
      }
      case "delete": {
        const entry = this.#need(op.localId);
        this.entries.delete(op.localId);
        return { inverse: { kind: "create", entry }, changed: [op.localId] };
      }
      case "set-coordinates": {
        const entry = this.#need(op.localId);
        const before = entry.points;
        entry.points = op.coordinates.map((p) => [p[0], p[1]]);
        this.#rebuild(entry);
        return { inverse: { kind: "set-coordinates", localId: op.localId, coordinates: before }, changed: [op.localId] };
      }
      case "move-vertex": {
        const entry = this.#need(op.localId);
        const index = this.#index(entry, op.index, false);
        const before = entry.points[index];
        entry.points[index] = [op.to[0], op.to[1]];
        this.#rebuild(entry);
        return { inverse: { kind: "move-vertex", localId: op.localId, index, to: before }, changed: [op.localId] };
      }
      case "insert-vertex": {
        const entry = this.#need(op.localId);
        const index = this.#index(entry, op.index, true);
        entry.points.splice(index, 0, [op.at[0], op.at[1]]);
        this.#rebuild(entry);
        return { inverse: { kind: "delete-vertex", localId: op.localId, index }, changed: [op.localId] };
      }
      case "delete-vertex": {
        const entry = this.#need(op.localId);
        const index = this.#index(entry, op.index, false);
        const [at] = entry.points.splice(index, 1);
        this.#rebuild(entry);
        return { inverse: { kind: "insert-vertex", localId: op.localId, index, at }, changed: [op.localId] };
      }
      case "translate": {
        const entries = op.localIds.map((id) => this.#need(id));
        for (const entry of entries) {
          entry.points = entry.points.map((p) => [p[0] + op.dx, p[1] + op.dy]);
          this.#rebuild(entry);
        }
        return { inverse: { kind: "translate", localIds: [...op.localIds], dx: -op.dx, dy: -op.dy }, changed: [...op.localIds] };
      }
      case "splice": {
        const entry = this.#need(op.localId);
        const index = this.#index(entry, op.index, true);
        if (!Number.isInteger(op.remove) || op.remove < 0 || index + op.remove > entry.points.length) {
          throw new RangeError(`cannot remove ${op.remove} points at ${index} of ${entry.localId}`);
        }
        const removed = entry.points.splice(index, op.remove, ...op.insert.map((p) => [p[0], p[1]]));
        this.#rebuild(entry);
        return {
          inverse: { kind: "splice", localId: op.localId, index, remove: op.insert.length, insert: removed },
          changed: [op.localId],
        };
      }
      case "set-properties": {
        const entry = this.#need(op.localId);
        const current = propertiesOf(entry.feature);
        const before = {};
        for (const key of Object.keys(op.properties)) {
          if (!(key in current)) {
            throw new Error(`unknown property ${key}`);
          }
          before[key] = current[key];
        }
        const id = entry.feature.id;
        entry.feature = makeFeature({ ...current, ...op.properties }, entry.points);
        if (id !== undefined) {
          entry.feature.id = id;
        }
        return { inverse: { kind: "set-properties", localId: op.localId, properties: before }, changed: [op.localId] };
      }
      default:
        throw new Error(`unknown op ${op.kind}`);
    }
  }

  #index(entry, index, inserting) {
    const max = entry.points.length + (inserting ? 0 : -1);
    if (!Number.isInteger(index) || index < 0 || index > max) {
      throw new RangeError(`vertex ${index} out of range 0..${max} of ${entry.localId}`);
    }
    return index;
  }
}

/**
 * Flatbush (a static packed Hilbert R-tree) as an ES module, in pages and Workers alike.
 *
 * The vendored package's ES entry imports `flatqueue` by a bare name, which a browser cannot
 * resolve without an import map (an inline script, which the pages' CSP forbids), so its UMD
 * build, which inlines flatqueue, is loaded instead: with no CommonJS or AMD loader around, a UMD
 * file defines `globalThis.Flatbush`, which this module re-exports.
 */

import "../../vendor/flatbush-4.7.0/flatbush.js";

/** @type {any} */
const Flatbush = globalThis.Flatbush;
export default Flatbush;

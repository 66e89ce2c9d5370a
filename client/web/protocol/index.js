// @ts-check
/** The browser's port of protocol/: stamps, ops, the merge layer, z-order, undo. */
export { canon, compareBytes, pack, toHex } from "./canon.js";
export { sha256Hex, sha256HexSync } from "./digest.js";
export { create, del, FIELDS, KINDS, restore, SETTABLE, SHAPES, setFields, toWire } from "./ops.js";
export { Clock, compareStamps, MAX_COUNTER } from "./stamps.js";
export { compactEntry, expandEntry, sharedStamp, Tapestry } from "./tapestry.js";
export { History, Holders, inverse } from "./undo.js";
export { checkOp, checkOps, checkStamp, DecodeError, LIMITS } from "./validate.js";
export { afterLast, beforeFirst, between, midpoint, replicaTag } from "./zorder.js";

/** OCI layer whiteouts (image-spec layer.md): `.wh.<name>` hides `<name>` of lower layers. */
export const WHITEOUT = '.wh.';
/** The opaque marker: its directory's contents in lower layers are hidden. */
export const OPAQUE = '.wh..wh..opq';

// Types of the pure-JavaScript codecs the compression tests write batches with (the packages ship none): only what they call.
declare module 'lz4js' {
  const lz4: {
    /** The decompressed size of an LZ4 frame: its declared content size, or the sum of its blocks' bounds. */
    decompressBound(src: Uint8Array): number;
    /** Decompresses one LZ4 frame into a buffer of maxSize bytes, returned cut to what was written. */
    decompress(src: Uint8Array, maxSize?: number): Uint8Array;
    compress(src: Uint8Array, maxSize?: number): Uint8Array;
  };
  export default lz4;
}

declare module 'snappyjs' {
  const SnappyJS: {
    /** Decompresses one raw snappy block; throws past maxLength bytes. */
    uncompress(compressed: Uint8Array, maxLength?: number): Uint8Array;
    compress(uncompressed: Uint8Array): Uint8Array;
  };
  export default SnappyJS;
}

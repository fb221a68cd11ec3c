import type { StringEntries } from './tensor.js';

/**
 * What every IR object keeps of the protobuf message it was read from beyond its own fields, written back as read:
 * the doc string, metadata_props, and the fields ONNX 1.23.1 does not define.
 */
export class ProtoExtras {
  docString = '';
  metadataProps: StringEntries = [];
  /** Fields of the protobuf message this was read from that ONNX 1.23.1 does not define, written back as read. */
  unknownFields?: Uint8Array[];
}

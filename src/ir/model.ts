import type { Attribute } from './attribute.js';
import { Graph } from './graph.js';
import type { StringEntries } from './tensor.js';

export interface OpsetImport {
  domain: string;
  version: number;
}

/** A FunctionProto: a named body graph whose inputs and outputs are the function's formal parameters. */
export class OnnxFunction {
  name: string;
  domain: string;
  overload = '';
  docString = '';
  metadataProps: StringEntries = [];
  /** Fields of the protobuf message this was read from that ONNX 1.23.1 does not define, written back as read. */
  unknownFields?: Uint8Array[];
  /** Attribute names without defaults (FunctionProto.attribute). */
  attributeNames: string[] = [];
  /** Attributes with default values (FunctionProto.attribute_proto). */
  attributeDefaults: Attribute[] = [];
  opsetImports: OpsetImport[] = [];
  readonly body: Graph;

  constructor(domain: string, name: string) {
    this.domain = domain;
    this.name = name;
    this.body = new Graph(name);
  }
}

export class Model {
  irVersion = 10;
  opsetImports: OpsetImport[] = [];
  producerName = '';
  producerVersion = '';
  domain = '';
  modelVersion = 0;
  docString = '';
  metadataProps: StringEntries = [];
  /** Fields of the protobuf message this was read from that ONNX 1.23.1 does not define, written back as read. */
  unknownFields?: Uint8Array[];
  functions: OnnxFunction[] = [];
  /** TrainingInfoProto and DeviceConfigurationProto entries, carried through untouched (as decoded messages). */
  trainingInfo: unknown[] = [];
  configuration: unknown[] = [];
  graph: Graph;

  constructor(graph = new Graph('main')) {
    this.graph = graph;
  }

  /** The imported opset version of a domain ('' and 'ai.onnx' are the same domain). */
  opsetVersion(domain = ''): number | undefined {
    const d = domain === 'ai.onnx' ? '' : domain;
    return this.opsetImports.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === d)?.version;
  }

  /** Imports a domain at a version if the model does not import it yet. */
  requireOpset(domain: string, version: number): void {
    if (this.opsetVersion(domain) === undefined) this.opsetImports.push({ domain, version });
  }
}

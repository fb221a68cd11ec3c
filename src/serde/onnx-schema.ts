// Generated from ONNX 1.23.1's onnx-ml.proto FileDescriptorSet (src/serde/onnx-1.23.1-descriptor.pb)
// by test/serde/schema.test.ts with UPDATE_SCHEMA=1. Do not edit by hand.
// Each field: [number, name, type (descriptor.proto's numbering), 0 single | 1 repeated | 2 packed, message type].
import type { Schema } from './wire.js';

export const onnxSchema: Schema = {
  'AttributeProto': [[1, 'name', 9, 0], [2, 'f', 2, 0], [3, 'i', 3, 0], [4, 's', 12, 0], [5, 't', 11, 0, 'TensorProto'], [6, 'g', 11, 0, 'GraphProto'], [7, 'floats', 2, 1], [8, 'ints', 3, 1], [9, 'strings', 12, 1], [10, 'tensors', 11, 1, 'TensorProto'], [11, 'graphs', 11, 1, 'GraphProto'], [13, 'doc_string', 9, 0], [14, 'tp', 11, 0, 'TypeProto'], [15, 'type_protos', 11, 1, 'TypeProto'], [20, 'type', 14, 0], [21, 'ref_attr_name', 9, 0], [22, 'sparse_tensor', 11, 0, 'SparseTensorProto'], [23, 'sparse_tensors', 11, 1, 'SparseTensorProto']],
  'ValueInfoProto': [[1, 'name', 9, 0], [2, 'type', 11, 0, 'TypeProto'], [3, 'doc_string', 9, 0], [4, 'metadata_props', 11, 1, 'StringStringEntryProto']],
  'NodeProto': [[1, 'input', 9, 1], [2, 'output', 9, 1], [3, 'name', 9, 0], [4, 'op_type', 9, 0], [5, 'attribute', 11, 1, 'AttributeProto'], [6, 'doc_string', 9, 0], [7, 'domain', 9, 0], [8, 'overload', 9, 0], [9, 'metadata_props', 11, 1, 'StringStringEntryProto'], [10, 'device_configurations', 11, 1, 'NodeDeviceConfigurationProto']],
  'IntIntListEntryProto': [[1, 'key', 3, 0], [2, 'value', 3, 1]],
  'NodeDeviceConfigurationProto': [[1, 'configuration_id', 9, 0], [2, 'sharding_spec', 11, 1, 'ShardingSpecProto'], [3, 'pipeline_stage', 5, 0]],
  'ShardingSpecProto': [[1, 'tensor_name', 9, 0], [2, 'device', 3, 1], [3, 'index_to_device_group_map', 11, 1, 'IntIntListEntryProto'], [4, 'sharded_dim', 11, 1, 'ShardedDimProto']],
  'ShardedDimProto': [[1, 'axis', 3, 0], [2, 'simple_sharding', 11, 1, 'SimpleShardedDimProto']],
  'SimpleShardedDimProto': [[1, 'dim_value', 3, 0], [2, 'dim_param', 9, 0], [3, 'num_shards', 3, 0]],
  'TrainingInfoProto': [[1, 'initialization', 11, 0, 'GraphProto'], [2, 'algorithm', 11, 0, 'GraphProto'], [3, 'initialization_binding', 11, 1, 'StringStringEntryProto'], [4, 'update_binding', 11, 1, 'StringStringEntryProto']],
  'ModelProto': [[1, 'ir_version', 3, 0], [2, 'producer_name', 9, 0], [3, 'producer_version', 9, 0], [4, 'domain', 9, 0], [5, 'model_version', 3, 0], [6, 'doc_string', 9, 0], [7, 'graph', 11, 0, 'GraphProto'], [8, 'opset_import', 11, 1, 'OperatorSetIdProto'], [14, 'metadata_props', 11, 1, 'StringStringEntryProto'], [20, 'training_info', 11, 1, 'TrainingInfoProto'], [25, 'functions', 11, 1, 'FunctionProto'], [26, 'configuration', 11, 1, 'DeviceConfigurationProto']],
  'DeviceConfigurationProto': [[1, 'name', 9, 0], [2, 'num_devices', 5, 0], [3, 'device', 9, 1]],
  'StringStringEntryProto': [[1, 'key', 9, 0], [2, 'value', 9, 0]],
  'TensorAnnotation': [[1, 'tensor_name', 9, 0], [2, 'quant_parameter_tensor_names', 11, 1, 'StringStringEntryProto']],
  'GraphProto': [[1, 'node', 11, 1, 'NodeProto'], [2, 'name', 9, 0], [5, 'initializer', 11, 1, 'TensorProto'], [10, 'doc_string', 9, 0], [11, 'input', 11, 1, 'ValueInfoProto'], [12, 'output', 11, 1, 'ValueInfoProto'], [13, 'value_info', 11, 1, 'ValueInfoProto'], [14, 'quantization_annotation', 11, 1, 'TensorAnnotation'], [15, 'sparse_initializer', 11, 1, 'SparseTensorProto'], [16, 'metadata_props', 11, 1, 'StringStringEntryProto']],
  'TensorProto': [[1, 'dims', 3, 1], [2, 'data_type', 5, 0], [3, 'segment', 11, 0, 'TensorProto.Segment'], [4, 'float_data', 2, 2], [5, 'int32_data', 5, 2], [6, 'string_data', 12, 1], [7, 'int64_data', 3, 2], [8, 'name', 9, 0], [9, 'raw_data', 12, 0], [10, 'double_data', 1, 2], [11, 'uint64_data', 4, 2], [12, 'doc_string', 9, 0], [13, 'external_data', 11, 1, 'StringStringEntryProto'], [14, 'data_location', 14, 0], [16, 'metadata_props', 11, 1, 'StringStringEntryProto']],
  'TensorProto.Segment': [[1, 'begin', 3, 0], [2, 'end', 3, 0]],
  'SparseTensorProto': [[1, 'values', 11, 0, 'TensorProto'], [2, 'indices', 11, 0, 'TensorProto'], [3, 'dims', 3, 1]],
  'TensorShapeProto': [[1, 'dim', 11, 1, 'TensorShapeProto.Dimension']],
  'TensorShapeProto.Dimension': [[1, 'dim_value', 3, 0], [2, 'dim_param', 9, 0], [3, 'denotation', 9, 0]],
  'TypeProto': [[1, 'tensor_type', 11, 0, 'TypeProto.Tensor'], [4, 'sequence_type', 11, 0, 'TypeProto.Sequence'], [5, 'map_type', 11, 0, 'TypeProto.Map'], [6, 'denotation', 9, 0], [7, 'opaque_type', 11, 0, 'TypeProto.Opaque'], [8, 'sparse_tensor_type', 11, 0, 'TypeProto.SparseTensor'], [9, 'optional_type', 11, 0, 'TypeProto.Optional']],
  'TypeProto.Tensor': [[1, 'elem_type', 5, 0], [2, 'shape', 11, 0, 'TensorShapeProto']],
  'TypeProto.Sequence': [[1, 'elem_type', 11, 0, 'TypeProto']],
  'TypeProto.Map': [[1, 'key_type', 5, 0], [2, 'value_type', 11, 0, 'TypeProto']],
  'TypeProto.Optional': [[1, 'elem_type', 11, 0, 'TypeProto']],
  'TypeProto.SparseTensor': [[1, 'elem_type', 5, 0], [2, 'shape', 11, 0, 'TensorShapeProto']],
  'TypeProto.Opaque': [[1, 'domain', 9, 0], [2, 'name', 9, 0]],
  'OperatorSetIdProto': [[1, 'domain', 9, 0], [2, 'version', 3, 0]],
  'FunctionProto': [[1, 'name', 9, 0], [4, 'input', 9, 1], [5, 'output', 9, 1], [6, 'attribute', 9, 1], [7, 'node', 11, 1, 'NodeProto'], [8, 'doc_string', 9, 0], [9, 'opset_import', 11, 1, 'OperatorSetIdProto'], [10, 'domain', 9, 0], [11, 'attribute_proto', 11, 1, 'AttributeProto'], [12, 'value_info', 11, 1, 'ValueInfoProto'], [13, 'overload', 9, 0], [14, 'metadata_props', 11, 1, 'StringStringEntryProto']],
};

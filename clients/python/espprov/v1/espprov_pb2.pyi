from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
EXPORT_FORMAT_CSV: ExportFormat
EXPORT_FORMAT_NDJSON: ExportFormat
EXPORT_FORMAT_UNSPECIFIED: ExportFormat
FAILURE_CLASS_CANCELLED: FailureClass
FAILURE_CLASS_CLOUD: FailureClass
FAILURE_CLASS_DEADLINE: FailureClass
FAILURE_CLASS_DEVICE_BUSY: FailureClass
FAILURE_CLASS_DEVICE_STOPPED_ANSWERING: FailureClass
FAILURE_CLASS_DEVICE_UNREACHABLE: FailureClass
FAILURE_CLASS_NETWORK_NOT_FOUND: FailureClass
FAILURE_CLASS_OTHER: FailureClass
FAILURE_CLASS_PROTOCOL: FailureClass
FAILURE_CLASS_UNSPECIFIED: FailureClass
FAILURE_CLASS_WIFI_AUTH: FailureClass
FAILURE_CLASS_WRONG_POP: FailureClass
JOB_STATE_CANCELLED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_INTERRUPTED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_UNSPECIFIED: JobState
MAPPING_FLOW_CHALLENGE_RESPONSE: MappingFlow
MAPPING_FLOW_TRADITIONAL: MappingFlow
MAPPING_FLOW_UNSPECIFIED: MappingFlow
NETWORK_TYPE_THREAD: NetworkType
NETWORK_TYPE_UNSPECIFIED: NetworkType
NETWORK_TYPE_WIFI: NetworkType
PROV_GENERATION_NETWORK_PROVISIONING: ProvGeneration
PROV_GENERATION_UNSPECIFIED: ProvGeneration
PROV_GENERATION_WIFI_PROVISIONING: ProvGeneration
SECURITY_SCHEME_0: SecurityScheme
SECURITY_SCHEME_1: SecurityScheme
SECURITY_SCHEME_2: SecurityScheme
SECURITY_SCHEME_UNSPECIFIED: SecurityScheme
STEP_AWAITING_RETRY: Step
STEP_CONFIG_APPLIED: Step
STEP_CONNECTING: Step
STEP_CREDENTIALS_SENT: Step
STEP_CUSTOM_DATA: Step
STEP_DEVICE_RESET: Step
STEP_MAPPING: Step
STEP_QUEUED: Step
STEP_REPROVISIONED: Step
STEP_RESULT: Step
STEP_SECURITY_DETECTED: Step
STEP_SESSION_ESTABLISHED: Step
STEP_THREAD_STATE: Step
STEP_UNSPECIFIED: Step
STEP_WIFI_STATE: Step
THREAD_ATTACH_STATE_ATTACHED: ThreadAttachState
THREAD_ATTACH_STATE_ATTACHING: ThreadAttachState
THREAD_ATTACH_STATE_ATTACHING_FAILED: ThreadAttachState
THREAD_ATTACH_STATE_DETACHED: ThreadAttachState
THREAD_ATTACH_STATE_UNSPECIFIED: ThreadAttachState
THREAD_FAIL_REASON_DATASET_INVALID: ThreadFailReason
THREAD_FAIL_REASON_NETWORK_NOT_FOUND: ThreadFailReason
THREAD_FAIL_REASON_UNSPECIFIED: ThreadFailReason
TRANSPORT_BLE: Transport
TRANSPORT_CONSOLE: Transport
TRANSPORT_HTTPD: Transport
TRANSPORT_ON_NETWORK: Transport
TRANSPORT_SOFTAP: Transport
TRANSPORT_UNSPECIFIED: Transport
WIFI_AUTH_MODE_DPP: WifiAuthMode
WIFI_AUTH_MODE_OPEN: WifiAuthMode
WIFI_AUTH_MODE_OWE: WifiAuthMode
WIFI_AUTH_MODE_UNSPECIFIED: WifiAuthMode
WIFI_AUTH_MODE_WAPI_PSK: WifiAuthMode
WIFI_AUTH_MODE_WEP: WifiAuthMode
WIFI_AUTH_MODE_WPA2_ENTERPRISE: WifiAuthMode
WIFI_AUTH_MODE_WPA2_PSK: WifiAuthMode
WIFI_AUTH_MODE_WPA2_WPA3_ENTERPRISE: WifiAuthMode
WIFI_AUTH_MODE_WPA2_WPA3_PSK: WifiAuthMode
WIFI_AUTH_MODE_WPA3_ENTERPRISE: WifiAuthMode
WIFI_AUTH_MODE_WPA3_ENT_192: WifiAuthMode
WIFI_AUTH_MODE_WPA3_EXT_PSK: WifiAuthMode
WIFI_AUTH_MODE_WPA3_EXT_PSK_MIXED_MODE: WifiAuthMode
WIFI_AUTH_MODE_WPA3_PSK: WifiAuthMode
WIFI_AUTH_MODE_WPA_ENTERPRISE: WifiAuthMode
WIFI_AUTH_MODE_WPA_PSK: WifiAuthMode
WIFI_AUTH_MODE_WPA_WPA2_PSK: WifiAuthMode
WIFI_FAIL_REASON_AUTH_ERROR: WifiFailReason
WIFI_FAIL_REASON_NETWORK_NOT_FOUND: WifiFailReason
WIFI_FAIL_REASON_UNSPECIFIED: WifiFailReason
WIFI_STATION_STATE_CONNECTED: WifiStationState
WIFI_STATION_STATE_CONNECTING: WifiStationState
WIFI_STATION_STATE_CONNECTION_FAILED: WifiStationState
WIFI_STATION_STATE_DISCONNECTED: WifiStationState
WIFI_STATION_STATE_UNSPECIFIED: WifiStationState

class AccessPoint(_message.Message):
    __slots__ = ["auth", "bssid", "channel", "rssi", "ssid"]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    BSSID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RSSI_FIELD_NUMBER: _ClassVar[int]
    SSID_FIELD_NUMBER: _ClassVar[int]
    auth: WifiAuthMode
    bssid: str
    channel: int
    rssi: int
    ssid: str
    def __init__(self, ssid: _Optional[str] = ..., bssid: _Optional[str] = ..., channel: _Optional[int] = ..., rssi: _Optional[int] = ..., auth: _Optional[_Union[WifiAuthMode, str]] = ...) -> None: ...

class AppInfo(_message.Message):
    __slots__ = ["capabilities", "version"]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    version: str
    def __init__(self, version: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ["job_id"]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CustomDataReply(_message.Message):
    __slots__ = ["endpoint", "reply"]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    reply: bytes
    def __init__(self, endpoint: _Optional[str] = ..., reply: _Optional[bytes] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ["adapter", "address", "baud_rate", "discovery_timeout", "name", "name_prefix", "prov_generation", "serial_port", "transport"]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    BAUD_RATE_FIELD_NUMBER: _ClassVar[int]
    DISCOVERY_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    PROV_GENERATION_FIELD_NUMBER: _ClassVar[int]
    SERIAL_PORT_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    adapter: str
    address: str
    baud_rate: int
    discovery_timeout: _duration_pb2.Duration
    name: str
    name_prefix: str
    prov_generation: ProvGeneration
    serial_port: str
    transport: Transport
    def __init__(self, transport: _Optional[_Union[Transport, str]] = ..., address: _Optional[str] = ..., name: _Optional[str] = ..., name_prefix: _Optional[str] = ..., adapter: _Optional[str] = ..., serial_port: _Optional[str] = ..., baud_rate: _Optional[int] = ..., discovery_timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., prov_generation: _Optional[_Union[ProvGeneration, str]] = ...) -> None: ...

class DeviceInfo(_message.Message):
    __slots__ = ["apps", "capabilities", "network_types", "prov_generation", "sec_patch_ver", "security", "security_source", "version"]
    class AppsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: AppInfo
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[AppInfo, _Mapping]] = ...) -> None: ...
    APPS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    NETWORK_TYPES_FIELD_NUMBER: _ClassVar[int]
    PROV_GENERATION_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    SECURITY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    SEC_PATCH_VER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    apps: _containers.MessageMap[str, AppInfo]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    network_types: _containers.RepeatedScalarFieldContainer[NetworkType]
    prov_generation: ProvGeneration
    sec_patch_ver: int
    security: SecurityScheme
    security_source: str
    version: str
    def __init__(self, version: _Optional[str] = ..., security: _Optional[_Union[SecurityScheme, str]] = ..., sec_patch_ver: _Optional[int] = ..., capabilities: _Optional[_Iterable[str]] = ..., apps: _Optional[_Mapping[str, AppInfo]] = ..., security_source: _Optional[str] = ..., prov_generation: _Optional[_Union[ProvGeneration, str]] = ..., network_types: _Optional[_Iterable[_Union[NetworkType, str]]] = ...) -> None: ...

class DisableChallengeResponseRequest(_message.Message):
    __slots__ = ["device", "security", "timeouts"]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    device: Device
    security: Security
    timeouts: Timeouts
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., security: _Optional[_Union[Security, _Mapping]] = ..., timeouts: _Optional[_Union[Timeouts, _Mapping]] = ...) -> None: ...

class DisableChallengeResponseResponse(_message.Message):
    __slots__ = ["already_disabled", "disabled_now"]
    ALREADY_DISABLED_FIELD_NUMBER: _ClassVar[int]
    DISABLED_NOW_FIELD_NUMBER: _ClassVar[int]
    already_disabled: bool
    disabled_now: bool
    def __init__(self, disabled_now: bool = ..., already_disabled: bool = ...) -> None: ...

class DiscoverRequest(_message.Message):
    __slots__ = ["device", "timeout"]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    device: Device
    timeout: _duration_pb2.Duration
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class DiscoverResponse(_message.Message):
    __slots__ = ["address", "capabilities", "likely_esp", "name", "network_types", "node_id", "pop_required", "prov_generation", "rssi", "security", "transport", "usb_pid", "usb_serial", "usb_vid"]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    LIKELY_ESP_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NETWORK_TYPES_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    POP_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    PROV_GENERATION_FIELD_NUMBER: _ClassVar[int]
    RSSI_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    USB_PID_FIELD_NUMBER: _ClassVar[int]
    USB_SERIAL_FIELD_NUMBER: _ClassVar[int]
    USB_VID_FIELD_NUMBER: _ClassVar[int]
    address: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    likely_esp: bool
    name: str
    network_types: _containers.RepeatedScalarFieldContainer[NetworkType]
    node_id: str
    pop_required: bool
    prov_generation: ProvGeneration
    rssi: int
    security: SecurityScheme
    transport: Transport
    usb_pid: str
    usb_serial: str
    usb_vid: str
    def __init__(self, transport: _Optional[_Union[Transport, str]] = ..., name: _Optional[str] = ..., address: _Optional[str] = ..., node_id: _Optional[str] = ..., security: _Optional[_Union[SecurityScheme, str]] = ..., pop_required: bool = ..., capabilities: _Optional[_Iterable[str]] = ..., rssi: _Optional[int] = ..., usb_vid: _Optional[str] = ..., usb_pid: _Optional[str] = ..., usb_serial: _Optional[str] = ..., likely_esp: bool = ..., prov_generation: _Optional[_Union[ProvGeneration, str]] = ..., network_types: _Optional[_Iterable[_Union[NetworkType, str]]] = ...) -> None: ...

class ExportJobsRequest(_message.Message):
    __slots__ = ["created_after", "created_before", "device", "format", "node_id", "request_id", "serial_number", "states", "station", "work_order"]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SERIAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    STATION_FIELD_NUMBER: _ClassVar[int]
    WORK_ORDER_FIELD_NUMBER: _ClassVar[int]
    created_after: _timestamp_pb2.Timestamp
    created_before: _timestamp_pb2.Timestamp
    device: str
    format: ExportFormat
    node_id: str
    request_id: str
    serial_number: str
    states: _containers.RepeatedScalarFieldContainer[JobState]
    station: str
    work_order: str
    def __init__(self, states: _Optional[_Iterable[_Union[JobState, str]]] = ..., device: _Optional[str] = ..., node_id: _Optional[str] = ..., serial_number: _Optional[str] = ..., work_order: _Optional[str] = ..., station: _Optional[str] = ..., created_after: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., created_before: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., format: _Optional[_Union[ExportFormat, str]] = ...) -> None: ...

class ExportJobsResponse(_message.Message):
    __slots__ = ["data"]
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ["job_id"]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ["caller", "cancel_requested", "create_time", "device", "end_time", "error", "instance", "job_id", "labels", "last_confirmed_step", "last_sequence", "request", "request_id", "result", "serial_number", "start_time", "state", "station", "steps", "update_time", "work_order"]
    class LabelsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    LAST_CONFIRMED_STEP_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SERIAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATION_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    WORK_ORDER_FIELD_NUMBER: _ClassVar[int]
    caller: str
    cancel_requested: bool
    create_time: _timestamp_pb2.Timestamp
    device: JobDevice
    end_time: _timestamp_pb2.Timestamp
    error: JobError
    instance: str
    job_id: str
    labels: _containers.ScalarMap[str, str]
    last_confirmed_step: Step
    last_sequence: int
    request: ProvisionRequest
    request_id: str
    result: Result
    serial_number: str
    start_time: _timestamp_pb2.Timestamp
    state: JobState
    station: str
    steps: _containers.RepeatedCompositeFieldContainer[JobStep]
    update_time: _timestamp_pb2.Timestamp
    work_order: str
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., request_id: _Optional[str] = ..., serial_number: _Optional[str] = ..., work_order: _Optional[str] = ..., station: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., create_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., last_confirmed_step: _Optional[_Union[Step, str]] = ..., steps: _Optional[_Iterable[_Union[JobStep, _Mapping]]] = ..., device: _Optional[_Union[JobDevice, _Mapping]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., result: _Optional[_Union[Result, _Mapping]] = ..., caller: _Optional[str] = ..., instance: _Optional[str] = ..., cancel_requested: bool = ..., last_sequence: _Optional[int] = ..., request: _Optional[_Union[ProvisionRequest, _Mapping]] = ...) -> None: ...

class JobDevice(_message.Message):
    __slots__ = ["adapter", "address", "device_info", "device_key", "name", "node_id", "transport"]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_INFO_FIELD_NUMBER: _ClassVar[int]
    DEVICE_KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    adapter: str
    address: str
    device_info: DeviceInfo
    device_key: str
    name: str
    node_id: str
    transport: Transport
    def __init__(self, transport: _Optional[_Union[Transport, str]] = ..., name: _Optional[str] = ..., address: _Optional[str] = ..., adapter: _Optional[str] = ..., node_id: _Optional[str] = ..., device_info: _Optional[_Union[DeviceInfo, _Mapping]] = ..., device_key: _Optional[str] = ...) -> None: ...

class JobError(_message.Message):
    __slots__ = ["code", "failure_class", "message"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CLASS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    failure_class: FailureClass
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., failure_class: _Optional[_Union[FailureClass, str]] = ...) -> None: ...

class JobStep(_message.Message):
    __slots__ = ["end_time", "message", "outcome", "sequence", "start_time", "step"]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    end_time: _timestamp_pb2.Timestamp
    message: str
    outcome: str
    sequence: int
    start_time: _timestamp_pb2.Timestamp
    step: Step
    def __init__(self, step: _Optional[_Union[Step, str]] = ..., start_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[str] = ..., message: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ["created_after", "created_before", "device", "node_id", "page_size", "page_token", "request_id", "serial_number", "states", "station", "work_order"]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SERIAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    STATION_FIELD_NUMBER: _ClassVar[int]
    WORK_ORDER_FIELD_NUMBER: _ClassVar[int]
    created_after: _timestamp_pb2.Timestamp
    created_before: _timestamp_pb2.Timestamp
    device: str
    node_id: str
    page_size: int
    page_token: str
    request_id: str
    serial_number: str
    states: _containers.RepeatedScalarFieldContainer[JobState]
    station: str
    work_order: str
    def __init__(self, states: _Optional[_Iterable[_Union[JobState, str]]] = ..., device: _Optional[str] = ..., node_id: _Optional[str] = ..., serial_number: _Optional[str] = ..., work_order: _Optional[str] = ..., station: _Optional[str] = ..., created_after: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., created_before: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ["jobs", "next_page_token"]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListProfilesRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListProfilesResponse(_message.Message):
    __slots__ = ["profiles"]
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    profiles: _containers.RepeatedCompositeFieldContainer[Profile]
    def __init__(self, profiles: _Optional[_Iterable[_Union[Profile, _Mapping]]] = ...) -> None: ...

class MapNodeRequest(_message.Message):
    __slots__ = ["device", "mapping", "security", "timeouts"]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    MAPPING_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    device: Device
    mapping: Mapping
    security: Security
    timeouts: Timeouts
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., security: _Optional[_Union[Security, _Mapping]] = ..., mapping: _Optional[_Union[Mapping, _Mapping]] = ..., timeouts: _Optional[_Union[Timeouts, _Mapping]] = ...) -> None: ...

class MapNodeResponse(_message.Message):
    __slots__ = ["chal_resp_disabled", "node_id", "request_id"]
    CHAL_RESP_DISABLED_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    chal_resp_disabled: bool
    node_id: str
    request_id: str
    def __init__(self, node_id: _Optional[str] = ..., request_id: _Optional[str] = ..., chal_resp_disabled: bool = ...) -> None: ...

class Mapping(_message.Message):
    __slots__ = ["cloud_url", "disable_chal_resp", "enabled", "max_wait", "metadata", "poll_interval", "remap", "tags"]
    CLOUD_URL_FIELD_NUMBER: _ClassVar[int]
    DISABLE_CHAL_RESP_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    MAX_WAIT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    POLL_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    REMAP_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    cloud_url: str
    disable_chal_resp: bool
    enabled: bool
    max_wait: _duration_pb2.Duration
    metadata: _struct_pb2.Struct
    poll_interval: _duration_pb2.Duration
    remap: bool
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, enabled: bool = ..., tags: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., remap: bool = ..., disable_chal_resp: bool = ..., cloud_url: _Optional[str] = ..., poll_interval: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., max_wait: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class MappingEvent(_message.Message):
    __slots__ = ["chal_resp_disabled", "flow", "mapped", "node_id", "request_id", "request_status"]
    CHAL_RESP_DISABLED_FIELD_NUMBER: _ClassVar[int]
    FLOW_FIELD_NUMBER: _ClassVar[int]
    MAPPED_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_STATUS_FIELD_NUMBER: _ClassVar[int]
    chal_resp_disabled: bool
    flow: MappingFlow
    mapped: bool
    node_id: str
    request_id: str
    request_status: str
    def __init__(self, flow: _Optional[_Union[MappingFlow, str]] = ..., node_id: _Optional[str] = ..., request_id: _Optional[str] = ..., request_status: _Optional[str] = ..., mapped: bool = ..., chal_resp_disabled: bool = ...) -> None: ...

class Profile(_message.Message):
    __slots__ = ["adapter", "address", "addresses", "cloud", "dataset_set", "description", "labels", "mapping_enabled", "name", "network", "passphrase_set", "sec2_username", "security_scheme", "station", "thread_network_name", "timeouts", "transport", "wifi_ssid", "work_order"]
    class AddressesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CLOUD_FIELD_NUMBER: _ClassVar[int]
    DATASET_SET_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    MAPPING_ENABLED_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    PASSPHRASE_SET_FIELD_NUMBER: _ClassVar[int]
    SEC2_USERNAME_FIELD_NUMBER: _ClassVar[int]
    SECURITY_SCHEME_FIELD_NUMBER: _ClassVar[int]
    STATION_FIELD_NUMBER: _ClassVar[int]
    THREAD_NETWORK_NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    WIFI_SSID_FIELD_NUMBER: _ClassVar[int]
    WORK_ORDER_FIELD_NUMBER: _ClassVar[int]
    adapter: str
    address: str
    addresses: _containers.ScalarMap[str, str]
    cloud: str
    dataset_set: bool
    description: str
    labels: _containers.ScalarMap[str, str]
    mapping_enabled: bool
    name: str
    network: NetworkType
    passphrase_set: bool
    sec2_username: str
    security_scheme: SecurityScheme
    station: str
    thread_network_name: str
    timeouts: Timeouts
    transport: Transport
    wifi_ssid: str
    work_order: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., transport: _Optional[_Union[Transport, str]] = ..., address: _Optional[str] = ..., addresses: _Optional[_Mapping[str, str]] = ..., adapter: _Optional[str] = ..., security_scheme: _Optional[_Union[SecurityScheme, str]] = ..., sec2_username: _Optional[str] = ..., network: _Optional[_Union[NetworkType, str]] = ..., wifi_ssid: _Optional[str] = ..., passphrase_set: bool = ..., thread_network_name: _Optional[str] = ..., dataset_set: bool = ..., mapping_enabled: bool = ..., cloud: _Optional[str] = ..., work_order: _Optional[str] = ..., station: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., timeouts: _Optional[_Union[Timeouts, _Mapping]] = ...) -> None: ...

class ProvisionInteractiveRequest(_message.Message):
    __slots__ = ["give_up", "retry", "retry_thread", "start"]
    GIVE_UP_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    RETRY_THREAD_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    give_up: bool
    retry: WifiCredentials
    retry_thread: ThreadCredentials
    start: ProvisionRequest
    def __init__(self, start: _Optional[_Union[ProvisionRequest, _Mapping]] = ..., retry: _Optional[_Union[WifiCredentials, _Mapping]] = ..., give_up: bool = ..., retry_thread: _Optional[_Union[ThreadCredentials, _Mapping]] = ...) -> None: ...

class ProvisionInteractiveResponse(_message.Message):
    __slots__ = ["event"]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: ProvisionResponse
    def __init__(self, event: _Optional[_Union[ProvisionResponse, _Mapping]] = ...) -> None: ...

class ProvisionRequest(_message.Message):
    __slots__ = ["custom_data", "device", "labels", "mapping", "no_wifi", "profile", "reprovision", "request_id", "reset_on_failure", "security", "serial_number", "station", "thread", "timeouts", "wifi", "work_order"]
    class CustomDataEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CUSTOM_DATA_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    MAPPING_FIELD_NUMBER: _ClassVar[int]
    NO_WIFI_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    REPROVISION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESET_ON_FAILURE_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    SERIAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATION_FIELD_NUMBER: _ClassVar[int]
    THREAD_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    WIFI_FIELD_NUMBER: _ClassVar[int]
    WORK_ORDER_FIELD_NUMBER: _ClassVar[int]
    custom_data: _containers.ScalarMap[str, bytes]
    device: Device
    labels: _containers.ScalarMap[str, str]
    mapping: Mapping
    no_wifi: bool
    profile: str
    reprovision: bool
    request_id: str
    reset_on_failure: bool
    security: Security
    serial_number: str
    station: str
    thread: ThreadCredentials
    timeouts: Timeouts
    wifi: WifiCredentials
    work_order: str
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., security: _Optional[_Union[Security, _Mapping]] = ..., wifi: _Optional[_Union[WifiCredentials, _Mapping]] = ..., no_wifi: bool = ..., mapping: _Optional[_Union[Mapping, _Mapping]] = ..., timeouts: _Optional[_Union[Timeouts, _Mapping]] = ..., reset_on_failure: bool = ..., reprovision: bool = ..., custom_data: _Optional[_Mapping[str, bytes]] = ..., thread: _Optional[_Union[ThreadCredentials, _Mapping]] = ..., request_id: _Optional[str] = ..., serial_number: _Optional[str] = ..., work_order: _Optional[str] = ..., station: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., profile: _Optional[str] = ...) -> None: ...

class ProvisionResponse(_message.Message):
    __slots__ = ["custom_data", "device_info", "handshake_wait", "job_id", "job_state", "mapping", "message", "network", "result", "sequence", "step", "thread_state", "time", "wifi_state"]
    CUSTOM_DATA_FIELD_NUMBER: _ClassVar[int]
    DEVICE_INFO_FIELD_NUMBER: _ClassVar[int]
    HANDSHAKE_WAIT_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_STATE_FIELD_NUMBER: _ClassVar[int]
    MAPPING_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    THREAD_STATE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    WIFI_STATE_FIELD_NUMBER: _ClassVar[int]
    custom_data: CustomDataReply
    device_info: DeviceInfo
    handshake_wait: _duration_pb2.Duration
    job_id: str
    job_state: JobState
    mapping: MappingEvent
    message: str
    network: NetworkType
    result: Result
    sequence: int
    step: Step
    thread_state: ThreadState
    time: _timestamp_pb2.Timestamp
    wifi_state: WifiState
    def __init__(self, step: _Optional[_Union[Step, str]] = ..., time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., message: _Optional[str] = ..., device_info: _Optional[_Union[DeviceInfo, _Mapping]] = ..., wifi_state: _Optional[_Union[WifiState, _Mapping]] = ..., mapping: _Optional[_Union[MappingEvent, _Mapping]] = ..., result: _Optional[_Union[Result, _Mapping]] = ..., custom_data: _Optional[_Union[CustomDataReply, _Mapping]] = ..., network: _Optional[_Union[NetworkType, str]] = ..., thread_state: _Optional[_Union[ThreadState, _Mapping]] = ..., job_id: _Optional[str] = ..., sequence: _Optional[int] = ..., job_state: _Optional[_Union[JobState, str]] = ..., handshake_wait: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ["bssid", "channel", "device_reset", "error", "error_code", "fail_reason", "failure_class", "ip4_address", "mapped", "network", "node_id", "ssid", "success", "thread"]
    BSSID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_RESET_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CLASS_FIELD_NUMBER: _ClassVar[int]
    FAIL_REASON_FIELD_NUMBER: _ClassVar[int]
    IP4_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MAPPED_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SSID_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    THREAD_FIELD_NUMBER: _ClassVar[int]
    bssid: str
    channel: int
    device_reset: bool
    error: str
    error_code: str
    fail_reason: WifiFailReason
    failure_class: FailureClass
    ip4_address: str
    mapped: bool
    network: NetworkType
    node_id: str
    ssid: str
    success: bool
    thread: ThreadState
    def __init__(self, success: bool = ..., ip4_address: _Optional[str] = ..., ssid: _Optional[str] = ..., bssid: _Optional[str] = ..., channel: _Optional[int] = ..., node_id: _Optional[str] = ..., mapped: bool = ..., error_code: _Optional[str] = ..., error: _Optional[str] = ..., fail_reason: _Optional[_Union[WifiFailReason, str]] = ..., device_reset: bool = ..., network: _Optional[_Union[NetworkType, str]] = ..., thread: _Optional[_Union[ThreadState, _Mapping]] = ..., failure_class: _Optional[_Union[FailureClass, str]] = ...) -> None: ...

class ScanThreadRequest(_message.Message):
    __slots__ = ["device", "security", "timeouts"]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    device: Device
    security: Security
    timeouts: Timeouts
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., security: _Optional[_Union[Security, _Mapping]] = ..., timeouts: _Optional[_Union[Timeouts, _Mapping]] = ...) -> None: ...

class ScanThreadResponse(_message.Message):
    __slots__ = ["device_info", "networks"]
    DEVICE_INFO_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    device_info: DeviceInfo
    networks: _containers.RepeatedCompositeFieldContainer[ThreadNetwork]
    def __init__(self, networks: _Optional[_Iterable[_Union[ThreadNetwork, _Mapping]]] = ..., device_info: _Optional[_Union[DeviceInfo, _Mapping]] = ...) -> None: ...

class ScanWifiRequest(_message.Message):
    __slots__ = ["device", "security", "timeouts"]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    device: Device
    security: Security
    timeouts: Timeouts
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., security: _Optional[_Union[Security, _Mapping]] = ..., timeouts: _Optional[_Union[Timeouts, _Mapping]] = ...) -> None: ...

class ScanWifiResponse(_message.Message):
    __slots__ = ["access_points", "device_info"]
    ACCESS_POINTS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_INFO_FIELD_NUMBER: _ClassVar[int]
    access_points: _containers.RepeatedCompositeFieldContainer[AccessPoint]
    device_info: DeviceInfo
    def __init__(self, access_points: _Optional[_Iterable[_Union[AccessPoint, _Mapping]]] = ..., device_info: _Optional[_Union[DeviceInfo, _Mapping]] = ...) -> None: ...

class Security(_message.Message):
    __slots__ = ["pop", "scheme", "sec2_password", "sec2_username"]
    POP_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    SEC2_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    SEC2_USERNAME_FIELD_NUMBER: _ClassVar[int]
    pop: str
    scheme: SecurityScheme
    sec2_password: str
    sec2_username: str
    def __init__(self, scheme: _Optional[_Union[SecurityScheme, str]] = ..., pop: _Optional[str] = ..., sec2_username: _Optional[str] = ..., sec2_password: _Optional[str] = ...) -> None: ...

class ThreadCredentials(_message.Message):
    __slots__ = ["channel", "dataset", "ext_pan_id", "network_key", "network_name", "pan_id"]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    EXT_PAN_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_KEY_FIELD_NUMBER: _ClassVar[int]
    NETWORK_NAME_FIELD_NUMBER: _ClassVar[int]
    PAN_ID_FIELD_NUMBER: _ClassVar[int]
    channel: int
    dataset: str
    ext_pan_id: str
    network_key: str
    network_name: str
    pan_id: int
    def __init__(self, dataset: _Optional[str] = ..., network_key: _Optional[str] = ..., pan_id: _Optional[int] = ..., ext_pan_id: _Optional[str] = ..., channel: _Optional[int] = ..., network_name: _Optional[str] = ...) -> None: ...

class ThreadNetwork(_message.Message):
    __slots__ = ["channel", "ext_address", "ext_pan_id", "lqi", "network_name", "pan_id", "rssi"]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    EXT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    EXT_PAN_ID_FIELD_NUMBER: _ClassVar[int]
    LQI_FIELD_NUMBER: _ClassVar[int]
    NETWORK_NAME_FIELD_NUMBER: _ClassVar[int]
    PAN_ID_FIELD_NUMBER: _ClassVar[int]
    RSSI_FIELD_NUMBER: _ClassVar[int]
    channel: int
    ext_address: str
    ext_pan_id: str
    lqi: int
    network_name: str
    pan_id: int
    rssi: int
    def __init__(self, pan_id: _Optional[int] = ..., channel: _Optional[int] = ..., ext_pan_id: _Optional[str] = ..., network_name: _Optional[str] = ..., rssi: _Optional[int] = ..., lqi: _Optional[int] = ..., ext_address: _Optional[str] = ...) -> None: ...

class ThreadState(_message.Message):
    __slots__ = ["channel", "ext_pan_id", "fail_reason", "network_name", "pan_id", "state"]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    EXT_PAN_ID_FIELD_NUMBER: _ClassVar[int]
    FAIL_REASON_FIELD_NUMBER: _ClassVar[int]
    NETWORK_NAME_FIELD_NUMBER: _ClassVar[int]
    PAN_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    channel: int
    ext_pan_id: str
    fail_reason: ThreadFailReason
    network_name: str
    pan_id: int
    state: ThreadAttachState
    def __init__(self, state: _Optional[_Union[ThreadAttachState, str]] = ..., fail_reason: _Optional[_Union[ThreadFailReason, str]] = ..., pan_id: _Optional[int] = ..., channel: _Optional[int] = ..., ext_pan_id: _Optional[str] = ..., network_name: _Optional[str] = ...) -> None: ...

class Timeouts(_message.Message):
    __slots__ = ["exchange", "overall", "status_poll", "thread_attach", "wifi_connect"]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    OVERALL_FIELD_NUMBER: _ClassVar[int]
    STATUS_POLL_FIELD_NUMBER: _ClassVar[int]
    THREAD_ATTACH_FIELD_NUMBER: _ClassVar[int]
    WIFI_CONNECT_FIELD_NUMBER: _ClassVar[int]
    exchange: _duration_pb2.Duration
    overall: _duration_pb2.Duration
    status_poll: _duration_pb2.Duration
    thread_attach: _duration_pb2.Duration
    wifi_connect: _duration_pb2.Duration
    def __init__(self, exchange: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., overall: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., wifi_connect: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., status_poll: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., thread_attach: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class UpdateJobLabelsRequest(_message.Message):
    __slots__ = ["job_id", "labels"]
    class LabelsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    labels: _containers.ScalarMap[str, str]
    def __init__(self, job_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ["after_sequence", "job_id"]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    job_id: str
    def __init__(self, job_id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class WifiCredentials(_message.Message):
    __slots__ = ["passphrase", "ssid"]
    PASSPHRASE_FIELD_NUMBER: _ClassVar[int]
    SSID_FIELD_NUMBER: _ClassVar[int]
    passphrase: str
    ssid: str
    def __init__(self, ssid: _Optional[str] = ..., passphrase: _Optional[str] = ...) -> None: ...

class WifiState(_message.Message):
    __slots__ = ["attempts_remaining", "auth", "bssid", "channel", "fail_reason", "ip4_address", "ssid", "state"]
    ATTEMPTS_REMAINING_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    BSSID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    FAIL_REASON_FIELD_NUMBER: _ClassVar[int]
    IP4_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SSID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    attempts_remaining: int
    auth: WifiAuthMode
    bssid: str
    channel: int
    fail_reason: WifiFailReason
    ip4_address: str
    ssid: str
    state: WifiStationState
    def __init__(self, state: _Optional[_Union[WifiStationState, str]] = ..., fail_reason: _Optional[_Union[WifiFailReason, str]] = ..., attempts_remaining: _Optional[int] = ..., ip4_address: _Optional[str] = ..., ssid: _Optional[str] = ..., bssid: _Optional[str] = ..., channel: _Optional[int] = ..., auth: _Optional[_Union[WifiAuthMode, str]] = ...) -> None: ...

class Transport(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class SecurityScheme(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class ProvGeneration(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class NetworkType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class WifiAuthMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Step(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class WifiStationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class WifiFailReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class ThreadAttachState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class ThreadFailReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class MappingFlow(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class FailureClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class ExportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

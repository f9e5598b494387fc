//! Flattening of realistic records of each shape: EVTX renderings taken
//! from the evtx crate's output for real logs (Sysmon, Security, SQL Server,
//! DNS Server, RDP, event log clearing), an OTRF (Mordor) export, and
//! Winlogbeat 8 / 6 documents.

use std::borrow::Cow;

use serde_json::{json, Value};

use super::*;

fn flatten(record: &Value) -> Vec<(Cow<'_, str>, &Value)> {
    let mut out = Vec::new();
    flatten_windows(record, &mut out);
    out
}

fn names<'a>(fields: &'a [(Cow<'_, str>, &Value)]) -> Vec<&'a str> {
    fields.iter().map(|(name, _)| name.as_ref()).collect()
}

/// The value of the one field called `name`; fails if there are several.
fn get<'v>(fields: &[(Cow<'_, str>, &'v Value)], name: &str) -> Option<&'v Value> {
    let mut found = fields.iter().filter(|(n, _)| n == name).map(|(_, v)| *v);
    let first = found.next();
    assert!(found.next().is_none(), "{name} emitted twice: {fields:?}");
    first
}

/// Every value must be borrowed from the record, not a copy.
fn assert_borrowed(record: &Value, fields: &[(Cow<'_, str>, &Value)]) {
    fn contains(haystack: &Value, needle: &Value) -> bool {
        std::ptr::eq(haystack, needle)
            || match haystack {
                Value::Object(map) => map.values().any(|v| contains(v, needle)),
                Value::Array(items) => items.iter().any(|v| contains(v, needle)),
                _ => false,
            }
    }
    for (name, value) in fields {
        assert!(
            contains(record, value) || std::ptr::eq(*value, &NULL),
            "{name} does not point into the record"
        );
    }
}

fn sysmon_process_create() -> Value {
    json!({"Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {"#attributes": {
                "Name": "Microsoft-Windows-Sysmon",
                "Guid": "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"}},
            "EventID": 1,
            "Version": 5,
            "Level": 4,
            "Task": 1,
            "Opcode": 0,
            "Keywords": "0x8000000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2021-04-26T15:03:05.9922307Z"}},
            "EventRecordID": 191969,
            "Correlation": null,
            "Execution": {"#attributes": {"ProcessID": 1404, "ThreadID": 1996}},
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "fs02.offsec.lan",
            "Security": {"#attributes": {"UserID": "S-1-5-18"}}
        },
        "EventData": {
            "RuleName": "technique_id=T1015,technique_name=Accessibility Features",
            "UtcTime": "2021-04-26 15:03:05.976",
            "ProcessGuid": "{7cf65fc7-d629-6086-b80a-000000002000}",
            "ProcessId": 3068,
            "Image": "C:\\Windows\\System32\\cmd.exe",
            "OriginalFileName": "Cmd.Exe",
            "CommandLine": "C:\\Windows\\system32\\cmd.exe  /Q /c C:\\Windows\\TEMP\\execute.bat ",
            "CurrentDirectory": "C:\\Windows\\system32\\",
            "User": "NT AUTHORITY\\SYSTEM",
            "LogonId": "0x3e7",
            "IntegrityLevel": "System",
            "Hashes": "SHA1=7C3D7281E1151FE4127923F4B4C3CD36438E1A12,MD5=F5AE03DE0AD60F5B17B82F2CD68402FE",
            "ParentProcessId": 3492,
            "ParentImage": "C:\\Windows\\System32\\cmd.exe",
            "ParentCommandLine": "C:\\Windows\\system32\\cmd.exe /Q /c echo cd  ^> \\\\127.0.0.1\\C$\\__output 2^>^&1 > C:\\Windows\\TEMP\\execute.bat"
        }
    }})
}

#[test]
fn event_xml_sysmon_process_creation() {
    let record = sysmon_process_create();
    assert_eq!(detect_shape(&record), WinShape::EventXml);
    let fields = flatten(&record);
    assert_eq!(
        names(&fields),
        [
            "Provider_Name",
            "Provider_Guid",
            "EventID",
            "Version",
            "Level",
            "Task",
            "Opcode",
            "Keywords",
            "SystemTime",
            "EventRecordID",
            "Correlation",
            "ExecutionProcessID",
            "ExecutionThreadID",
            "Channel",
            "Computer",
            "Security_UserID",
            "RuleName",
            "UtcTime",
            "ProcessGuid",
            "ProcessId",
            "Image",
            "OriginalFileName",
            "CommandLine",
            "CurrentDirectory",
            "User",
            "LogonId",
            "IntegrityLevel",
            "Hashes",
            "ParentProcessId",
            "ParentImage",
            "ParentCommandLine",
        ]
    );
    assert_eq!(get(&fields, "EventID"), Some(&json!(1)));
    assert_eq!(
        get(&fields, "Channel"),
        Some(&json!("Microsoft-Windows-Sysmon/Operational"))
    );
    assert_eq!(
        get(&fields, "Provider_Name"),
        Some(&json!("Microsoft-Windows-Sysmon"))
    );
    assert_eq!(
        get(&fields, "SystemTime"),
        Some(&json!("2021-04-26T15:03:05.9922307Z"))
    );
    assert_eq!(get(&fields, "ExecutionProcessID"), Some(&json!(1404)));
    assert_eq!(get(&fields, "Security_UserID"), Some(&json!("S-1-5-18")));
    assert_eq!(get(&fields, "Correlation"), Some(&Value::Null));
    assert_eq!(
        get(&fields, "Image"),
        Some(&json!("C:\\Windows\\System32\\cmd.exe"))
    );
    assert_borrowed(&record, &fields);
    // The names that exist in the record are borrowed, not allocated.
    for (name, _) in &fields {
        assert!(matches!(name, Cow::Borrowed(_)), "{name} was allocated");
    }
}

#[test]
fn event_xml_without_the_event_wrapper() {
    let wrapped = sysmon_process_create();
    let bare = wrapped["Event"].clone();
    assert_eq!(detect_shape(&bare), WinShape::EventXml);
    let with = flatten(&wrapped);
    let without = flatten(&bare);
    assert_eq!(with, without);
}

#[test]
fn event_xml_security_4688_with_null_security() {
    let record = json!({"Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {"#attributes": {
                "Name": "Microsoft-Windows-Security-Auditing",
                "Guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}"}},
            "EventID": 4688, "Version": 2, "Level": 0, "Task": 13312, "Opcode": 0,
            "Keywords": "0x8020000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2020-07-11T21:09:03.2492409Z"}},
            "EventRecordID": 2774613,
            "Correlation": null,
            "Execution": {"#attributes": {"ProcessID": 4, "ThreadID": 4216}},
            "Channel": "Security",
            "Computer": "jump01.offsec.lan",
            "Security": null
        },
        "EventData": {
            "SubjectUserSid": "S-1-5-21-4230534742-2542757381-3142984815-1158",
            "SubjectUserName": "lambda-user",
            "SubjectDomainName": "OFFSEC",
            "SubjectLogonId": "0x1d41a5fa",
            "NewProcessId": "0x1e18",
            "NewProcessName": "C:\\Windows\\System32\\schtasks.exe",
            "TokenElevationType": "%%1938",
            "ProcessId": "0xcd4",
            "CommandLine": "schtasks  /create /s fs02 /tn tasks_test_hacker2 /tr myapp.exe /sc daily /mo 10",
            "TargetUserSid": "S-1-0-0",
            "TargetUserName": "-",
            "TargetDomainName": "-",
            "TargetLogonId": "0x0",
            "ParentProcessName": "C:\\Windows\\System32\\cmd.exe",
            "MandatoryLabel": "S-1-16-8192"
        }
    }});
    let fields = flatten(&record);
    assert_eq!(get(&fields, "EventID"), Some(&json!(4688)));
    assert_eq!(get(&fields, "Channel"), Some(&json!("Security")));
    assert_eq!(get(&fields, "Security"), Some(&Value::Null));
    assert_eq!(get(&fields, "Security_UserID"), None);
    assert_eq!(get(&fields, "TargetUserName"), Some(&json!("-")));
    assert_eq!(
        get(&fields, "NewProcessName"),
        Some(&json!("C:\\Windows\\System32\\schtasks.exe"))
    );
    assert_borrowed(&record, &fields);
}

/// SQL Server audit events: EventID with Qualifiers, one unnamed `Data`.
#[test]
fn event_xml_event_id_with_qualifiers_and_unnamed_data() {
    let record = json!({"Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {"#attributes": {"Name": "MSSQL$RADAR"}},
            "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 33205},
            "Level": 0, "Task": 4, "Keywords": "0x90000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2020-07-15T19:39:15.9758779Z"}},
            "EventRecordID": 58975,
            "Channel": "Application",
            "Computer": "mssql01.offsec.lan",
            "Security": null
        },
        "EventData": {"Data": {"#text": "audit_schema_version:1\nevent_time:2020-07-15 19:39:14.4771020\naction_id:LGIF\nsucceeded:false\nserver_principal_name:sa\n"}}
    }});
    let fields = flatten(&record);
    assert_eq!(get(&fields, "EventID"), Some(&json!(33205)));
    assert_eq!(get(&fields, "EventID_Qualifiers"), Some(&json!(16384)));
    assert_eq!(get(&fields, "Provider_Name"), Some(&json!("MSSQL$RADAR")));
    assert_eq!(get(&fields, "Provider_Guid"), None);
    let data = get(&fields, "Data").and_then(Value::as_str).unwrap_or("");
    assert!(data.contains("action_id:LGIF"), "{data}");
    assert_borrowed(&record, &fields);
}

/// Several unnamed `Data` elements: evtx 0.15 aggregates them into one
/// `#text` array (e.g. Service Control Manager 7036 on older templates).
#[test]
fn event_xml_unnamed_data_array_in_text() {
    let record = json!({"Event": {
        "System": {"EventID": 7036, "Channel": "System", "Computer": "WS01"},
        "EventData": {"Data": {"#text": ["Windows Update", "running"]}, "Binary": "770075006100750073006500720076002F0034000000"}
    }});
    let fields = flatten(&record);
    assert_eq!(
        get(&fields, "Data"),
        Some(&json!(["Windows Update", "running"]))
    );
    assert_eq!(
        get(&fields, "Binary"),
        Some(&json!("770075006100750073006500720076002F0034000000"))
    );
}

/// Renderers that keep `Data` as a list of elements with `Name` attributes.
#[test]
fn event_xml_named_data_list() {
    let record = json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Service Control Manager",
                "Guid": "{555908d1-a6d7-4695-8e1e-26931d2012f4}",
                "EventSourceName": "Service Control Manager"}},
            "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045},
            "Channel": "System",
            "Computer": "fs03vuln.offsec.lan"
        },
        "EventData": {"Data": [
            {"#attributes": {"Name": "ServiceName"}, "#text": "BTOBTO"},
            {"#attributes": {"Name": "ImagePath"}, "#text": "%COMSPEC% /Q /c echo cd ^> \\\\127.0.0.1\\C$\\__output > %TEMP%\\execute.bat"},
            {"#attributes": {"Name": "ServiceType"}, "#text": "user mode service"},
            {"#attributes": {"Name": "StartType"}, "#text": "demand start"},
            {"#attributes": {"Name": "AccountName"}}
        ]}
    }});
    let fields = flatten(&record);
    assert_eq!(get(&fields, "EventID"), Some(&json!(7045)));
    assert_eq!(
        get(&fields, "Provider_EventSourceName"),
        Some(&json!("Service Control Manager"))
    );
    assert_eq!(get(&fields, "ServiceName"), Some(&json!("BTOBTO")));
    assert_eq!(get(&fields, "StartType"), Some(&json!("demand start")));
    assert_eq!(get(&fields, "AccountName"), Some(&Value::Null));
    assert_eq!(get(&fields, "Data"), None);
    assert_borrowed(&record, &fields);
}

#[test]
fn event_xml_mixed_and_plain_data_lists() {
    let record = json!({"System": {"EventID": 1}, "EventData": {"Data": [
        {"#attributes": {"Name": "param1"}, "#text": "x"},
        {"#text": "unnamed"}
    ]}});
    let fields = flatten(&record);
    assert_eq!(get(&fields, "param1"), Some(&json!("x")));
    assert!(get(&fields, "Data").is_some_and(Value::is_array));

    let record = json!({"System": {"EventID": 1}, "EventData": {"Data": ["a", "b"]}});
    let fields = flatten(&record);
    assert_eq!(get(&fields, "Data"), Some(&json!(["a", "b"])));

    let record = json!({"System": {"EventID": 1}, "EventData": {"Data": "only text"}});
    let fields = flatten(&record);
    assert_eq!(get(&fields, "Data"), Some(&json!("only text")));

    let record = json!({"System": {"EventID": 1}, "EventData": {"Data": {"#attributes": {"Name": "One"}, "#text": 5}}});
    let fields = flatten(&record);
    assert_eq!(get(&fields, "One"), Some(&json!(5)));
}

/// DNS Server 150: EventData carries a template `Name` attribute, skipped.
#[test]
fn event_xml_event_data_attributes_skipped_and_null_event_data() {
    let record = json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-DNS-Server-Service",
                "Guid": "{71a551f5-c893-4849-886b-b5ec8502641e}"}},
            "EventID": 150, "Channel": "DNS Server", "Computer": "rootdc1.offsec.lan"
        },
        "EventData": {"#attributes": {"Name": "DNS_EVENT_PLUGIN_INIT_FAILED"},
            "param1": ".\\mimilib.dll", "Binary": "7E000000"}
    }});
    let fields = flatten(&record);
    assert_eq!(
        names(&fields),
        [
            "Provider_Name",
            "Provider_Guid",
            "EventID",
            "Channel",
            "Computer",
            "param1",
            "Binary"
        ]
    );

    let record =
        json!({"Event": {"System": {"EventID": 771, "Channel": "DNS Server"}, "EventData": null}});
    assert_eq!(names(&flatten(&record)), ["EventID", "Channel"]);
}

/// Security 1102: the audit log was cleared; fields below `LogFileCleared`.
#[test]
fn event_xml_user_data_log_cleared() {
    let record = json!({"Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Eventlog",
                "Guid": "{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}"}},
            "EventID": 1102, "Version": 0, "Level": 4, "Task": 104, "Opcode": 0,
            "Keywords": "0x4020000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2021-04-22T08:50:53.6144922Z"}},
            "EventRecordID": 435110,
            "Correlation": null,
            "Execution": {"#attributes": {"ProcessID": 704, "ThreadID": 2352}},
            "Channel": "Security",
            "Computer": "fs03vuln.offsec.lan",
            "Security": null
        },
        "UserData": {"LogFileCleared": {
            "#attributes": {"xmlns": "http://manifests.microsoft.com/win/2004/08/windows/eventlog"},
            "SubjectUserSid": "S-1-5-21-4230534742-2542757381-3142984815-1111",
            "SubjectUserName": "admmig",
            "SubjectDomainName": "OFFSEC",
            "SubjectLogonId": "0x7424d"
        }}
    }});
    let fields = flatten(&record);
    assert_eq!(get(&fields, "EventID"), Some(&json!(1102)));
    assert_eq!(get(&fields, "SubjectUserName"), Some(&json!("admmig")));
    assert_eq!(get(&fields, "SubjectLogonId"), Some(&json!("0x7424d")));
    assert_eq!(get(&fields, "xmlns"), None);
    assert_eq!(get(&fields, "LogFileCleared"), None);
    assert_borrowed(&record, &fields);
}

/// Forwarded events (RDP 1149 here) render System values as strings, and a
/// Correlation with an ActivityID; UserData's wrapper is `EventXML`.
#[test]
fn event_xml_forwarded_event_with_string_values() {
    let record = json!({"Event": {
        "System": {
            "Provider": {"#attributes": {
                "Name": "Microsoft-Windows-TerminalServices-RemoteConnectionManager",
                "Guid": "{C76BAA63-AE81-421C-B425-340B4B24157F}"}},
            "EventID": "1149", "Version": "0", "Level": "4", "Task": "0", "Opcode": "0",
            "Keywords": "0x1000000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2021-12-16T10:25:32.351835800Z"}},
            "EventRecordID": "6433",
            "Correlation": {"#attributes": {"ActivityID": "{F4208CEC-4DF9-4D54-882A-4C115ABC0000}"}},
            "Execution": {"#attributes": {"ProcessID": "952", "ThreadID": "5672", "ProcessorID": "0"}},
            "Channel": "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational",
            "Computer": "rootdc1.offsec.lan",
            "Security": {"#attributes": {"UserID": "S-1-5-20"}}
        },
        "UserData": {"EventXML": {"#attributes": {"xmlns": "Event_NS"},
            "Param1": "admmig", "Param2": null, "Param3": "10.23.123.11"}},
        "RenderingInfo": {"#attributes": {"Culture": "en-US"},
            "Message": "Remote Desktop Services: User authentication succeeded",
            "Level": "Information"}
    }});
    let fields = flatten(&record);
    assert_eq!(get(&fields, "EventID"), Some(&json!("1149")));
    assert_eq!(get(&fields, "EventRecordID"), Some(&json!("6433")));
    assert_eq!(
        get(&fields, "Correlation_ActivityID"),
        Some(&json!("{F4208CEC-4DF9-4D54-882A-4C115ABC0000}"))
    );
    assert_eq!(get(&fields, "ExecutionProcessorID"), Some(&json!("0")));
    assert_eq!(get(&fields, "Param1"), Some(&json!("admmig")));
    assert_eq!(get(&fields, "Param2"), Some(&Value::Null));
    assert_eq!(get(&fields, "Param3"), Some(&json!("10.23.123.11")));
    // Other Event children are kept, with dots, and do not shadow System.
    assert_eq!(get(&fields, "Level"), Some(&json!("4")));
    assert_eq!(
        get(&fields, "RenderingInfo.Level"),
        Some(&json!("Information"))
    );
    assert_eq!(get(&fields, "RenderingInfo_Culture"), Some(&json!("en-US")));
    assert_borrowed(&record, &fields);
}

#[test]
fn event_xml_nested_user_data_and_fields_beside_the_wrapper() {
    let record = json!({
        "Event": {
            "System": {"EventID": 5, "Channel": "Microsoft-Windows-Test/Operational"},
            "UserData": {"Wrapper": {"Outer": {"Inner": "deep", "#attributes": {"Kind": "k"}}, "#text": "text"}}
        },
        "source": {"file": "x.evtx"}
    });
    let fields = flatten(&record);
    assert_eq!(get(&fields, "Outer.Inner"), Some(&json!("deep")));
    assert_eq!(get(&fields, "Outer_Kind"), Some(&json!("k")));
    assert_eq!(get(&fields, "Wrapper"), Some(&json!("text")));
    assert_eq!(get(&fields, "source.file"), Some(&json!("x.evtx")));
}

/// An OTRF (Mordor) Security 4688 record, as exported by their pipeline.
fn otrf_4688() -> Value {
    json!({
        "@timestamp": "2020-10-27T08:28:57.061Z",
        "TimeCreated": "2020-10-27T08:28:57.061Z",
        "CommandLine": "ProcessHerpaderping.exe  mimikatz.exe wardog.exe C:\\windows\\System32\\SnippingTool.exe",
        "SubjectLogonId": "0xc61d9",
        "NewProcessId": "0x27b4",
        "SubjectDomainName": "WORKSTATION5",
        "ProviderGuid": "{54849625-5478-4994-a5ba-3e3b0328c30d}",
        "TokenElevationType": "%%1936",
        "SubjectUserSid": "S-1-5-21-3940915590-64593676-1414006259-500",
        "NewProcessName": "C:\\Users\\wardog\\Desktop\\ProcessHerpaderping.exe",
        "Level": "0",
        "Channel": "Security",
        "Task": "13312",
        "SourceName": "Microsoft-Windows-Security-Auditing",
        "Hostname": "WORKSTATION5",
        "ProcessId": "0x2730",
        "TargetUserName": "-",
        "ParentProcessName": "C:\\Windows\\System32\\cmd.exe",
        "EventID": 4688,
        "Keywords": "0x8020000000000000",
        "SubjectUserName": "wardog",
        "MandatoryLabel": "S-1-16-12288"
    })
}

#[test]
fn flat_otrf_record_with_aliases() {
    let record = otrf_4688();
    assert_eq!(detect_shape(&record), WinShape::Flat);
    let fields = flatten(&record);
    let keys = record.as_object().map(|o| o.len()).unwrap_or(0);
    assert_eq!(fields.len(), keys + 3, "{:?}", names(&fields));
    assert_eq!(get(&fields, "EventID"), Some(&json!(4688)));
    assert_eq!(get(&fields, "Channel"), Some(&json!("Security")));
    assert_eq!(get(&fields, "Computer"), Some(&json!("WORKSTATION5")));
    assert_eq!(get(&fields, "Hostname"), Some(&json!("WORKSTATION5")));
    assert_eq!(
        get(&fields, "Provider_Name"),
        Some(&json!("Microsoft-Windows-Security-Auditing"))
    );
    assert_eq!(
        get(&fields, "Provider_Guid"),
        Some(&json!("{54849625-5478-4994-a5ba-3e3b0328c30d}"))
    );
    assert_eq!(
        &names(&fields)[keys..],
        ["Computer", "Provider_Name", "Provider_Guid"]
    );
    assert_borrowed(&record, &fields);
}

#[test]
fn flat_aliases_do_not_override_existing_fields() {
    let record = json!({
        "EventID": 4624, "Channel": "Security",
        "Computer": "DC01.corp.local", "Hostname": "dc01",
        "Provider_Name": "Microsoft-Windows-Security-Auditing",
        "ProviderName": "ignored", "SourceName": "ignored too"
    });
    let fields = flatten(&record);
    assert_eq!(get(&fields, "Computer"), Some(&json!("DC01.corp.local")));
    assert_eq!(
        get(&fields, "Provider_Name"),
        Some(&json!("Microsoft-Windows-Security-Auditing"))
    );

    // NXLog names the provider `ProviderName`... or `SourceName`; the first wins.
    let record = json!({"EventID": 4624, "ProviderName": "A", "SourceName": "B"});
    assert_eq!(get(&flatten(&record), "Provider_Name"), Some(&json!("B")));
    let record = json!({"EventID": 4624, "ProviderName": "A"});
    assert_eq!(get(&flatten(&record), "Provider_Name"), Some(&json!("A")));
}

#[test]
fn flat_nested_objects_use_dots_and_arrays_stay_whole() {
    let record = json!({
        "EventID": 3,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "network": {"src": {"ip": "10.0.2.15", "port": 49711}, "transport": "tcp"},
        "tags": ["lateral", "smb"],
        "empty": {}
    });
    let fields = flatten(&record);
    assert_eq!(
        names(&fields),
        [
            "EventID",
            "Channel",
            "network.src.ip",
            "network.src.port",
            "network.transport",
            "tags",
            "empty"
        ]
    );
    assert_eq!(get(&fields, "tags"), Some(&json!(["lateral", "smb"])));
    assert_eq!(get(&fields, "empty"), Some(&json!({})));
}

/// Winlogbeat 8 shipping a Sysmon process creation, with the ECS fields the
/// sysmon module adds.
fn winlogbeat_sysmon_1() -> Value {
    json!({
        "@timestamp": "2023-03-14T09:12:44.615Z",
        "agent": {"type": "winlogbeat", "version": "8.6.2"},
        "event": {"code": "1", "kind": "event", "provider": "Microsoft-Windows-Sysmon",
                  "category": ["process"], "type": ["start"], "action": "Process Create (rule: ProcessCreate)"},
        "host": {"name": "ws-alice.corp.local", "os": {"family": "windows"}},
        "log": {"level": "information"},
        "process": {"pid": 6652, "executable": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                    "command_line": "powershell.exe -nop -w hidden -enc SQBFAFgA",
                    "parent": {"executable": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"}},
        "winlog": {
            "api": "wineventlog",
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "computer_name": "WS-ALICE.corp.local",
            "event_id": "1",
            "provider_guid": "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}",
            "provider_name": "Microsoft-Windows-Sysmon",
            "record_id": 88213,
            "process": {"pid": 3180, "thread": {"id": 4236}},
            "user": {"identifier": "S-1-5-18", "name": "SYSTEM", "domain": "NT AUTHORITY", "type": "User"},
            "version": 5,
            "event_data": {
                "RuleName": "-",
                "UtcTime": "2023-03-14 09:12:44.612",
                "ProcessGuid": "{2f5b9a1e-3b1c-6410-0a04-000000000f00}",
                "ProcessId": "6652",
                "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                "CommandLine": "powershell.exe -nop -w hidden -enc SQBFAFgA",
                "User": "CORP\\alice",
                "IntegrityLevel": "Medium",
                "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
                "ParentCommandLine": "\"C:\\Program Files\\Microsoft Office\\Root\\Office16\\WINWORD.EXE\" /n \"C:\\Users\\alice\\Downloads\\invoice.docm\""
            }
        }
    })
}

#[test]
fn winlogbeat_sysmon_record() {
    let record = winlogbeat_sysmon_1();
    assert_eq!(detect_shape(&record), WinShape::Winlogbeat);
    let fields = flatten(&record);
    // winlog.event_id wins over event.code.
    assert_eq!(get(&fields, "EventID"), Some(&json!("1")));
    assert!(std::ptr::eq(
        get(&fields, "EventID").unwrap_or(&NULL),
        &record["winlog"]["event_id"]
    ));
    assert_eq!(
        get(&fields, "Channel"),
        Some(&json!("Microsoft-Windows-Sysmon/Operational"))
    );
    assert_eq!(
        get(&fields, "Provider_Name"),
        Some(&json!("Microsoft-Windows-Sysmon"))
    );
    // winlog.computer_name wins over host.name.
    assert_eq!(
        get(&fields, "Computer"),
        Some(&json!("WS-ALICE.corp.local"))
    );
    assert_eq!(get(&fields, "EventRecordID"), Some(&json!(88213)));
    assert_eq!(get(&fields, "ExecutionProcessID"), Some(&json!(3180)));
    assert_eq!(get(&fields, "ExecutionThreadID"), Some(&json!(4236)));
    assert_eq!(get(&fields, "Security_UserID"), Some(&json!("S-1-5-18")));
    assert_eq!(
        get(&fields, "Image"),
        Some(&json!(
            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
        ))
    );
    assert_eq!(
        get(&fields, "CommandLine"),
        Some(&json!("powershell.exe -nop -w hidden -enc SQBFAFgA"))
    );
    // And the ECS and Winlogbeat names, with dots.
    assert_eq!(
        get(&fields, "process.command_line"),
        Some(&json!("powershell.exe -nop -w hidden -enc SQBFAFgA"))
    );
    assert_eq!(
        get(&fields, "host.name"),
        Some(&json!("ws-alice.corp.local"))
    );
    assert_eq!(get(&fields, "event.category"), Some(&json!(["process"])));
    assert_eq!(
        get(&fields, "winlog.event_data.User"),
        Some(&json!("CORP\\alice"))
    );
    // Sigma names come first: the event data, then the System names, then
    // the whole document from its first key on.
    let all = names(&fields);
    let start = all.iter().position(|n| *n == "@timestamp").unwrap_or(0);
    assert_eq!(start, 10 + 9, "{all:?}");
    assert_eq!(all[start - 1], "Security_UserID");
    assert_borrowed(&record, &fields);
}

#[test]
fn winlogbeat_fallbacks_event_code_and_host_name() {
    let record = json!({
        "event": {"code": "4624", "provider": "Microsoft-Windows-Security-Auditing"},
        "host": {"name": "dc01"},
        "winlog": {"channel": "Security", "event_data": {"LogonType": "3", "TargetUserName": "svc_sql"},
                   "user_data": {"SubjectUserName": "admmig"}}
    });
    let fields = flatten(&record);
    assert_eq!(get(&fields, "EventID"), Some(&json!("4624")));
    assert_eq!(get(&fields, "Computer"), Some(&json!("dc01")));
    assert_eq!(get(&fields, "LogonType"), Some(&json!("3")));
    assert_eq!(get(&fields, "SubjectUserName"), Some(&json!("admmig")));
    assert_eq!(get(&fields, "Provider_Name"), None);
}

/// Some exports write the document with literal dotted keys.
#[test]
fn winlogbeat_literal_dotted_keys() {
    let record = json!({
        "@timestamp": "2023-03-14T09:12:44.615Z",
        "winlog.channel": "Security",
        "winlog.event_id": 4688,
        "winlog.computer_name": "WS-ALICE",
        "winlog.event_data.NewProcessName": "C:\\Windows\\System32\\whoami.exe",
        "winlog.event_data.CommandLine": "whoami /all",
        "winlog": {"provider_name": "Microsoft-Windows-Security-Auditing"}
    });
    assert_eq!(detect_shape(&record), WinShape::Winlogbeat);
    let fields = flatten(&record);
    assert_eq!(get(&fields, "EventID"), Some(&json!(4688)));
    assert_eq!(get(&fields, "Channel"), Some(&json!("Security")));
    assert_eq!(get(&fields, "CommandLine"), Some(&json!("whoami /all")));
    assert_eq!(
        get(&fields, "Provider_Name"),
        Some(&json!("Microsoft-Windows-Security-Auditing"))
    );
    assert_eq!(
        get(&fields, "winlog.event_data.CommandLine"),
        Some(&json!("whoami /all"))
    );
    for (name, _) in &fields {
        if !name.contains('.') {
            assert!(matches!(name, Cow::Borrowed(_)), "{name} was allocated");
        }
    }
}

/// Winlogbeat 6.x put the event fields at the top level.
#[test]
fn winlogbeat_6_legacy_names() {
    let record = json!({
        "@timestamp": "2019-05-18T20:19:22.530Z",
        "beat": {"hostname": "WECServer", "name": "WECServer", "version": "6.5.4"},
        "computer_name": "HFDC01.shire.com",
        "event_data": {"SubjectUserName": "HFDC01$", "ServiceName": "krbtgt", "TicketEncryptionType": "0x17"},
        "event_id": 4769,
        "level": "Information",
        "log_name": "Security",
        "process_id": 628,
        "record_number": "1210346",
        "source_name": "Microsoft-Windows-Security-Auditing",
        "thread_id": 2348,
        "type": "wineventlog"
    });
    assert_eq!(detect_shape(&record), WinShape::Winlogbeat);
    let fields = flatten(&record);
    assert_eq!(get(&fields, "EventID"), Some(&json!(4769)));
    assert_eq!(get(&fields, "Channel"), Some(&json!("Security")));
    assert_eq!(get(&fields, "Computer"), Some(&json!("HFDC01.shire.com")));
    assert_eq!(get(&fields, "EventRecordID"), Some(&json!("1210346")));
    assert_eq!(get(&fields, "TicketEncryptionType"), Some(&json!("0x17")));
    assert_eq!(get(&fields, "ExecutionProcessID"), Some(&json!(628)));
}

#[test]
fn shape_detection_edges() {
    assert_eq!(detect_shape(&json!(null)), WinShape::Flat);
    assert_eq!(detect_shape(&json!([1, 2])), WinShape::Flat);
    assert_eq!(detect_shape(&json!({})), WinShape::Flat);
    // An `Event` that is not event XML is an ordinary field.
    assert_eq!(detect_shape(&json!({"Event": "logon"})), WinShape::Flat);
    assert_eq!(detect_shape(&json!({"Event": {"id": 1}})), WinShape::Flat);
    assert_eq!(
        detect_shape(&json!({"Event": {"EventData": {"a": 1}}})),
        WinShape::EventXml
    );
    assert_eq!(detect_shape(&json!({"System": "x"})), WinShape::Flat);
    assert_eq!(detect_shape(&json!({"winlog": "x"})), WinShape::Flat);
    // `event_data` alone is not enough for Winlogbeat 6.
    assert_eq!(
        detect_shape(&json!({"event_data": {"a": 1}})),
        WinShape::Flat
    );
    assert_eq!(names(&flatten(&json!({"Event": {"id": 1}}))), ["Event.id"]);
}

#[test]
fn flatten_as_a_given_shape() {
    let record = otrf_4688();
    let mut out = Vec::new();
    // Forcing EventXml on a flat record reads its top level as the event.
    flatten_windows_as(WinShape::EventXml, &record, &mut out);
    assert_eq!(get(&out, "EventID"), Some(&json!(4688)));
    out.clear();
    flatten_windows_as(WinShape::Winlogbeat, &record, &mut out);
    assert_eq!(get(&out, "EventID"), Some(&json!(4688)));
    // Appends, never clears.
    let before = out.len();
    flatten_windows(&record, &mut out);
    assert!(out.len() > before);
}

/// Odd shapes and values never panic, and non-objects add nothing.
#[test]
fn never_panics_on_odd_input() {
    let odd = [
        json!(null),
        json!(42),
        json!("Event"),
        json!([{"Event": {"System": {}}}]),
        json!({"Event": {"System": {}}}),
        json!({"Event": {"System": {"EventID": {"#attributes": 5, "#text": [1]}}}}),
        json!({"Event": {"System": {"Provider": {"#attributes": null}}, "EventData": 5}}),
        json!({"Event": {"System": {"x": {}}, "EventData": [1, 2], "UserData": "text"}}),
        json!({"Event": {"System": 3, "EventData": {"Data": {"#attributes": {"Name": 5}}}}}),
        json!({"Event": {"System": {"EventID": 1}, "EventData": {"Data": [null, 3, {"#attributes": {"Name": ""}}]}}}),
        json!({"Event": {"System": {"EventID": 1}, "UserData": {"#attributes": {}, "W": [1], "V": {"#text": {}}}}}),
        json!({"winlog": {"event_data": "not an object"}, "event_data": [1]}),
        json!({"winlog.": 1, "winlog..x": 2, "winlog.event_data.": 3, "": {"": {"": null}}}),
    ];
    for record in &odd {
        let mut out = Vec::new();
        flatten_windows(record, &mut out);
        for shape in [WinShape::Flat, WinShape::EventXml, WinShape::Winlogbeat] {
            flatten_windows_as(shape, record, &mut out);
        }
        assert_borrowed(record, &out);
        if !record.is_object() {
            assert!(out.is_empty());
        }
    }
}

#[test]
fn deep_nesting_is_cut_not_overflowed() {
    let mut deep = json!("bottom");
    for _ in 0..200 {
        let mut map = serde_json::Map::new();
        map.insert("a".into(), deep);
        deep = Value::Object(map);
    }
    let records = [
        json!({"deep": deep.clone()}),
        json!({"Event": {"System": {"EventID": 1}, "EventData": {"x": deep.clone()}}}),
        json!({"winlog": {"event_data": {"x": deep.clone()}}}),
    ];
    for record in &records {
        let fields = flatten(record);
        assert!(!fields.is_empty());
        let longest = fields.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        // A few path segments, then ".a" per level walked.
        assert!(longest <= 2 * MAX_DEPTH + 24, "{longest}");
    }
}

#[test]
fn event_data_names_with_spaces_also_come_without_them() {
    let v = serde_json::json!({"Event": {"System": {"EventID": 1116, "Channel": "Microsoft-Windows-Windows Defender/Operational"},
        "EventData": {"Threat Name": "HackTool:Win64/Mikatz!dha", "New Value": "HKLM\\x = 1"}}});
    let mut out = Vec::new();
    flatten_windows(&v, &mut out);
    let get = |k: &str| {
        out.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str().unwrap())
    };
    assert_eq!(get("Threat Name"), Some("HackTool:Win64/Mikatz!dha"));
    assert_eq!(get("ThreatName"), Some("HackTool:Win64/Mikatz!dha"));
    assert_eq!(get("NewValue"), Some("HKLM\\x = 1"));
}

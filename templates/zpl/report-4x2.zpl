^XA
^CI28
^PW812
^LL406
^FO20,12^A0N,34,34^FH^FDLOOSE REPORT  {{name}}^FS
^FO20,50^A0N,34,34^FH^FDMRN {{mrn_grouped}}  {{description}}^FS
^FO20,154{{symbol module=3 height=146}}
^XZ

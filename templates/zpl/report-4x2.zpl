^XA
^CI28
^PW812
^LL406
^FO20,12^A0N,34,34^FH^FDLOOSE REPORT  {{name max=26}}^FS
^FO20,50^A0N,34,34^FH^FDMRN {{mrn_grouped}}  {{description max=20}}^FS
^FO20,154{{symbol module=3 height=146}}
^XZ

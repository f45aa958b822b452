^XA
^CI28
^PW406
^LL203
^FO20,12^A0N,24,24^FH^FDLOOSE REPORT  {{name max=14}}^FS
^FO20,40^A0N,24,24^FH^FDMRN {{mrn_grouped}}  {{description max=12}}^FS
^FO20,84{{symbol module=2 height=66}}
^XZ

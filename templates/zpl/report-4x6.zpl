^XA
^CI28
^PW812
^LL1218
^FO20,12^A0N,48,48^FH^FDLOOSE REPORT  {{name max=26}}^FS
^FO20,64^A0N,48,48^FH^FDMRN {{mrn_grouped}}  {{description max=20}}^FS
^FO20,268{{symbol module=4 height=252}}
^XZ

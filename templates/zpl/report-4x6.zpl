^XA
^CI28
^PW812
^LL1218
^FO20,12^A0N,48,48^FH^FDLOOSE REPORT  {{name}}^FS
^FO20,64^A0N,48,48^FH^FDMRN {{mrn_grouped}}  {{description}}^FS
^FO20,268{{symbol module=4 height=252}}
^XZ

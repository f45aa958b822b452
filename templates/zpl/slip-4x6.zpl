^XA
^CI28
^PW812
^LL1218
^FO20,12^A0N,48,48^FH^FD{{priority}} to {{destination}}  by {{needed_by}}^FS
^FO20,64^A0N,48,48^FH^FD{{name max=22}}  MRN {{mrn_grouped}}  {{volume_barcode}}^FS
^FO20,268{{symbol module=4 height=252}}
^XZ

^XA
^CI28
^PW406
^LL203
^FO20,12^A0N,24,24^FH^FD{{priority}} to {{destination}}  by {{needed_by}}^FS
^FO20,40^A0N,24,24^FH^FD{{name max=10}}  MRN {{mrn_grouped}}  {{volume_barcode}}^FS
^FO20,84{{symbol module=2 height=66}}
^XZ

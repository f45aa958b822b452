^XA
^CI28
^PW812
^LL406
^FO20,12^A0N,34,34^FH^FD{{priority}} to {{destination}}  by {{needed_by}}^FS
^FO20,50^A0N,34,34^FH^FD{{name max=22}}  MRN {{mrn_grouped}}  {{volume_barcode}}^FS
^FO20,154{{symbol module=3 height=146}}
^XZ

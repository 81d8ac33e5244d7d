// placeholder: delete when the first real file lands

print("doozer: not built yet")

module example.com/book-shop/server

go 1.22
